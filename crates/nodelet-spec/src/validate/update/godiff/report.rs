//! go-cmp's default reporter (`report_compare.go`, `report_reflect.go`,
//! `report_text.go`) over [`N`] values: equal runs shown with two records
//! of context and the rest elided as `... // N identical fields`, leaf
//! changes as `-`/`+` line pairs, nested changes recursed into, identical
//! subtrees compacted onto one line, keys of one-line records aligned.
//!
//! go-cmp randomly swaps the spaces after the diff markers for U+00A0 so
//! that nobody relies on its output; this prints the plain-space variant.

use super::value::{N, V, quote};

/// cmp prints up to this many equal records around a difference.
const CONTEXT: usize = 2;
/// Inserted/removed values longer than this are printed over several lines.
const MAX_COLUMN: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Same,
    Del,
    Ins,
}

impl Mark {
    fn with(self, inner: Mark) -> Mark {
        if inner == Mark::Same { self } else { inner }
    }
    fn prefix(self) -> &'static str {
        match self {
            Mark::Same => "  ",
            Mark::Del => "- ",
            Mark::Ins => "+ ",
        }
    }
}

#[derive(Debug, Clone)]
enum Text {
    Line(String),
    Wrap {
        prefix: String,
        list: Vec<Rec>,
        suffix: &'static str,
    },
}

#[derive(Debug, Clone)]
struct Rec {
    mark: Mark,
    key: String,
    value: Text,
    comment: Option<String>,
}

impl Rec {
    fn new(mark: Mark, key: &str, value: Text) -> Rec {
        Rec {
            mark,
            key: key.to_owned(),
            value,
            comment: None,
        }
    }
    fn ellipsis(comment: String) -> Rec {
        Rec {
            mark: Mark::Same,
            key: String::new(),
            value: Text::Line("...".into()),
            comment: Some(comment),
        }
    }
}

/// `cmp.Diff(x, y)`: empty when equal, else the report ending in a newline.
pub fn diff(x: &N, y: &N) -> String {
    if x == y {
        return String::new();
    }
    let text = compact(diff_node(x, y, true), Mark::Same);
    let mut out = String::from(Mark::Same.prefix());
    expand(&text, Mark::Same, 0, &mut out);
    out.push('\n');
    out
}

/// Whether comparing `x` and `y` yields a chain (every node at most one
/// child): cmp then prints the pair as `-`/`+` lines instead of recursing.
fn chain(x: &N, y: &N) -> bool {
    match (&x.v, &y.v) {
        (V::Ptr(a), V::Ptr(b)) => chain(a, b),
        (V::Struct(a), V::Struct(b)) if x.ty == y.ty => match (a.as_slice(), b.as_slice()) {
            ([], []) => true,
            ([(_, fa)], [(_, fb)]) => chain(fa, fb),
            _ => false,
        },
        (V::List(a), V::List(b)) => match edits(a, b).as_slice() {
            [] => true,
            [Edit::Both(i, j)] => chain(&a[*i], &b[*j]),
            [_] => true,
            _ => false,
        },
        (V::Map(a), V::Map(b)) => {
            let keys = merged_keys(a, b);
            match keys.as_slice() {
                [] => true,
                [k] => match (lookup(a, k), lookup(b, k)) {
                    (Some(va), Some(vb)) => chain(va, vb),
                    _ => true,
                },
                _ => false,
            }
        }
        _ => true,
    }
}

/// The text of a changed pair that is not a chain.
fn diff_node(x: &N, y: &N, typed: bool) -> Text {
    let prefix = |n: &N| {
        if typed {
            format!("{}{{", n.ty)
        } else {
            "{".to_owned()
        }
    };
    match (&x.v, &y.v) {
        (V::Ptr(a), V::Ptr(b)) => match diff_node(a, b, typed) {
            Text::Wrap {
                prefix,
                list,
                suffix,
            } => Text::Wrap {
                prefix: format!("&{prefix}"),
                list,
                suffix,
            },
            Text::Line(l) => Text::Line(format!("&{l}")),
        },
        (V::Struct(a), V::Struct(b)) => {
            let mut keys: Vec<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
            for (k, _) in b {
                if !keys.contains(&k.as_str()) {
                    keys.push(k);
                }
            }
            let records: Vec<(String, Option<&N>, Option<&N>)> = keys
                .iter()
                .map(|k| ((*k).to_owned(), lookup(a, k), lookup(b, k)))
                .collect();
            Text::Wrap {
                prefix: prefix(x),
                list: diff_records(&records, "field", true),
                suffix: "}",
            }
        }
        (V::List(a), V::List(b)) => {
            let records: Vec<(String, Option<&N>, Option<&N>)> = edits(a, b)
                .into_iter()
                .map(|e| match e {
                    Edit::Both(i, j) => (String::new(), Some(&a[i]), Some(&b[j])),
                    Edit::Del(i) => (String::new(), Some(&a[i]), None),
                    Edit::Ins(j) => (String::new(), None, Some(&b[j])),
                })
                .collect();
            Text::Wrap {
                prefix: prefix(x),
                list: diff_records(&records, "element", false),
                suffix: "}",
            }
        }
        (V::Map(a), V::Map(b)) => {
            let records: Vec<(String, Option<&N>, Option<&N>)> = merged_keys(a, b)
                .into_iter()
                .map(|k| {
                    let (va, vb) = (lookup(a, &k), lookup(b, &k));
                    (k, va, vb)
                })
                .collect();
            Text::Wrap {
                prefix: prefix(x),
                list: diff_records(&records, "entry", false),
                suffix: "}",
            }
        }
        // Not reached for chains; print both sides to be safe.
        _ => Text::Wrap {
            prefix: String::new(),
            list: vec![
                Rec::new(Mark::Del, "", value(x, Mark::Del, typed)),
                Rec::new(Mark::Ins, "", value(y, Mark::Ins, typed)),
            ],
            suffix: "",
        },
    }
}

/// `formatDiffList`: runs of equal records with context, changes expanded.
fn diff_records(records: &[(String, Option<&N>, Option<&N>)], name: &str, typed: bool) -> Vec<Rec> {
    let equal =
        |r: &(String, Option<&N>, Option<&N>)| matches!((r.1, r.2), (Some(a), Some(b)) if a == b);
    let mut groups: Vec<(bool, usize)> = Vec::new();
    for r in records {
        let e = equal(r);
        match groups.last_mut() {
            Some((ge, n)) if *ge == e => *n += 1,
            _ => groups.push((e, 1)),
        }
    }
    let mut out = Vec::new();
    let mut at = 0;
    let last = groups.len().saturating_sub(1);
    for (gi, &(is_equal, n)) in groups.iter().enumerate() {
        let group = &records[at..at + n];
        at += n;
        if is_equal {
            let mut lo = 0;
            let mut hi = 0;
            while lo < CONTEXT && lo + hi < n && gi != 0 {
                lo += 1;
            }
            while hi < CONTEXT && lo + hi < n && gi != last {
                hi += 1;
            }
            if n - (lo + hi) == 1 {
                hi += 1;
            }
            for (k, x, _) in &group[..lo] {
                if let Some(x) = x {
                    out.push(Rec::new(Mark::Same, k, value(x, Mark::Same, typed)));
                }
            }
            if n > lo + hi {
                out.push(Rec::ellipsis(identical(n - lo - hi, name)));
            }
            for (k, x, _) in &group[n - hi..] {
                if let Some(x) = x {
                    out.push(Rec::new(Mark::Same, k, value(x, Mark::Same, typed)));
                }
            }
            continue;
        }
        for (k, x, y) in group {
            match (x, y) {
                (Some(x), Some(y)) if chain(x, y) => {
                    out.push(Rec::new(Mark::Del, k, value(x, Mark::Del, typed)));
                    out.push(Rec::new(Mark::Ins, k, value(y, Mark::Ins, typed)));
                }
                (Some(x), Some(y)) => out.push(Rec::new(Mark::Same, k, diff_node(x, y, typed))),
                (Some(x), None) => out.push(Rec::new(Mark::Del, k, value(x, Mark::Del, typed))),
                (None, Some(y)) => out.push(Rec::new(Mark::Ins, k, value(y, Mark::Ins, typed))),
                (None, None) => {}
            }
        }
    }
    out
}

/// `diffStats.String()` for identical records only.
fn identical(n: usize, name: &str) -> String {
    let mut name = name.to_owned();
    if n > 1 {
        name.push('s');
        if name.ends_with("ys") {
            name.truncate(name.len() - 2);
            name.push_str("ies");
        }
    }
    format!("{n} identical {name}")
}

/// `FormatValue`: one value in identical, removed or inserted mode. Types
/// of composite values are shown (when `typed`) except in identical mode.
fn value(n: &N, mode: Mark, typed: bool) -> Text {
    let show = typed && mode != Mark::Same;
    let wrap = |list: Vec<Rec>| Text::Wrap {
        prefix: if show {
            format!("{}{{", n.ty)
        } else {
            "{".to_owned()
        },
        list,
        suffix: "}",
    };
    match &n.v {
        V::Nil => Text::Line("nil".into()),
        V::Str(s) => Text::Line(quote(s)),
        V::Num(s) => Text::Line(s.clone()),
        V::Bool(b) => Text::Line(b.to_string()),
        V::Quantity(s, f) => Text::Line(format!(
            "{{i: {{...}}, s: {}, Format: {}}}",
            quote(s),
            quote(f)
        )),
        V::Ptr(inner) => match value(inner, mode, typed) {
            Text::Line(l) => Text::Line(format!("&{l}")),
            Text::Wrap {
                prefix,
                list,
                suffix,
            } => Text::Wrap {
                prefix: format!("&{prefix}"),
                list,
                suffix,
            },
        },
        V::Struct(fields) => wrap(
            fields
                .iter()
                .filter(|(_, f)| !f.is_zero())
                .map(|(k, f)| Rec::new(Mark::Same, k, value(f, mode, true)))
                .collect(),
        ),
        V::List(items) => wrap(
            items
                .iter()
                .map(|i| Rec::new(Mark::Same, "", value(i, mode, false)))
                .collect(),
        ),
        V::Map(entries) => wrap(
            entries
                .iter()
                .map(|(k, v)| Rec::new(Mark::Same, k, value(v, mode, false)))
                .collect(),
        ),
    }
}

/// `formatCompactTo`: subtrees without changes or comments become one
/// line; removed/inserted ones only while they fit in 80 columns.
fn compact(t: Text, d: Mark) -> Text {
    let Text::Wrap {
        prefix,
        list,
        suffix,
    } = t
    else {
        return t;
    };
    let mut multi = false;
    let mut body = String::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, r) in list.into_iter().enumerate() {
        if r.mark != Mark::Same || r.comment.is_some() {
            multi = true;
        }
        let v = compact(r.value, d.with(r.mark));
        if i > 0 {
            body.push_str(", ");
        }
        if !r.key.is_empty() {
            body.push_str(&r.key);
            body.push_str(": ");
        }
        match &v {
            Text::Line(l) => body.push_str(l),
            Text::Wrap { .. } => multi = true,
        }
        out.push(Rec { value: v, ..r });
    }
    if matches!(d, Mark::Del | Mark::Ins) && body.len() > MAX_COLUMN {
        multi = true;
    }
    if multi {
        Text::Wrap {
            prefix,
            list: out,
            suffix,
        }
    } else {
        Text::Line(format!("{prefix}{body}{suffix}"))
    }
}

fn indent(out: &mut String, d: Mark, n: usize) {
    out.push('\n');
    out.push_str(d.prefix());
    for _ in 0..n {
        out.push('\t');
    }
}

/// `formatExpandedTo`: one record per line, keys of one-line records
/// aligned; lists of bare one-line values batched up to 80 columns.
fn expand(t: &Text, d: Mark, n: usize, out: &mut String) {
    let (prefix, list, suffix) = match t {
        Text::Line(l) => {
            out.push_str(l);
            return;
        }
        Text::Wrap {
            prefix,
            list,
            suffix,
        } => (prefix, list, suffix),
    };
    out.push_str(prefix);
    let simple = !list.is_empty()
        && list.iter().all(|r| {
            r.key.is_empty()
                && r.mark == Mark::Same
                && r.comment.is_none()
                && matches!(r.value, Text::Line(_))
        });
    if simple {
        let mut batch = String::new();
        for r in list {
            if let Text::Line(l) = &r.value {
                if !batch.is_empty() && batch.len() + l.len() + 2 > MAX_COLUMN {
                    indent(out, d, n + 1);
                    out.push_str(batch.trim_end());
                    batch.clear();
                }
                batch.push_str(l);
                batch.push_str(", ");
            }
        }
        if !batch.is_empty() {
            indent(out, d, n + 1);
            out.push_str(batch.trim_end());
        }
        indent(out, d, n);
        out.push_str(suffix);
        return;
    }
    let pads = key_pads(list);
    for (r, pad) in list.iter().zip(pads) {
        let mark = d.with(r.mark);
        indent(out, mark, n + 1);
        if !r.key.is_empty() {
            out.push_str(&r.key);
            out.push_str(": ");
        }
        out.extend(std::iter::repeat_n(' ', pad));
        expand(&r.value, mark, n + 1, out);
        match &r.comment {
            Some(c) => {
                out.push_str(" // ");
                out.push_str(c);
            }
            None => out.push(','),
        }
    }
    indent(out, d, n);
    out.push_str(suffix);
}

/// Padding after `key: ` so the values of consecutive one-line records
/// start in the same column (`alignLens`).
fn key_pads(list: &[Rec]) -> Vec<usize> {
    let mut pads = vec![0; list.len()];
    let mut start = 0;
    let mut max = 0;
    let flush = |pads: &mut Vec<usize>, start: usize, end: usize, max: usize| {
        for (i, p) in pads.iter_mut().enumerate().take(end).skip(start) {
            *p = max - list[i].key.chars().count();
        }
    };
    for (i, r) in list.iter().enumerate() {
        let skip = r.key.is_empty() || !matches!(r.value, Text::Line(_));
        if skip {
            flush(&mut pads, start, i, max);
            start = i + 1;
            max = 0;
        } else {
            max = max.max(r.key.chars().count());
        }
    }
    flush(&mut pads, start, list.len(), max);
    pads
}

/// An edit script between two lists: matched pairs (equal, or both
/// composite at the same place), removals and insertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    Both(usize, usize),
    Del(usize),
    Ins(usize),
}

fn composite(n: &N) -> bool {
    match &n.v {
        V::Struct(_) | V::List(_) | V::Map(_) => true,
        V::Ptr(p) => composite(p),
        _ => false,
    }
}

fn edits(a: &[N], b: &[N]) -> Vec<Edit> {
    // Longest common subsequence of equal elements.
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(Edit::Both(i, j));
            i += 1;
            j += 1;
        } else if i < n
            && j < m
            && composite(&a[i])
            && composite(&b[j])
            && lcs[i + 1][j + 1] == lcs[i][j]
        {
            // Same place, both structured: a modification, recursed into.
            out.push(Edit::Both(i, j));
            i += 1;
            j += 1;
        } else if j >= m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(Edit::Del(i));
            i += 1;
        } else {
            out.push(Edit::Ins(j));
            j += 1;
        }
    }
    out
}

fn lookup<'a>(entries: &'a [(String, N)], key: &str) -> Option<&'a N> {
    entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn merged_keys(a: &[(String, N)], b: &[(String, N)]) -> Vec<String> {
    let mut keys: Vec<String> = a.iter().map(|(k, _)| k.clone()).collect();
    for (k, _) in b {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    keys.sort();
    keys
}
