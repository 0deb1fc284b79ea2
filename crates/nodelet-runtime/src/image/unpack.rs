//! Safe unpacking of one layer tar into its own directory.
//!
//! This is a security boundary: a layer comes from an untrusted archive and
//! must never create or modify anything outside its directory. Rules:
//! - `..` components anywhere make the layer invalid (error); a leading `/`
//!   is stripped (tar paths are relative to the image root, as docker does).
//! - Every parent directory is opened with `openat2(RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`, so a
//!   symlink created by an earlier entry (`a -> /tmp`, then `a/evil`) is an
//!   error, never followed. Final components are created with `O_EXCL |
//!   O_NOFOLLOW` after removing whatever was there.
//! - Hard links must name an existing entry inside the layer (`/etc/passwd`
//!   means the layer's own `etc/passwd`; if the layer has none it is an error).
//! - Character and block devices from the archive are refused (error); fifos
//!   are allowed. The only device we create is the overlayfs whiteout (0/0).
//! - Owners, modes (setuid included) and `SCHILY.xattr.*` are kept, except
//!   `trusted.overlay.*` xattrs, which only we may set. Setuid/setgid files
//!   are listed in [`UnpackStats::setuid`] (shown by `image inspect`).
//! - Total bytes and entry count are bounded ([`UnpackLimits`]).
//!
//! Whiteouts become native overlayfs ones, because each layer directory is
//! used directly as an overlay lowerdir: `.wh.<name>` -> char device 0/0 at
//! `<name>`, `.wh..wh..opq` -> `trusted.overlay.opaque=y` on the directory.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

use crate::error::{Result, RuntimeError};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Bounds against archive bombs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Sum of regular file sizes in one layer.
    pub max_bytes: u64,
    /// Number of tar entries in one layer.
    pub max_entries: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_bytes: 8 << 30,
            max_entries: 1_000_000,
        }
    }
}

/// What one unpack wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub entries: u64,
    pub bytes: u64,
    /// Regular files kept with their setuid or setgid bit (paths as in the
    /// layer, at most [`MAX_SETUID_LISTED`]): kept as the image says, as
    /// containerd does, and reported by `nodelet image inspect`.
    pub setuid: Vec<String>,
}

/// How many setuid/setgid paths one layer's report lists.
pub const MAX_SETUID_LISTED: usize = 256;

struct Ctx<'a> {
    layer: &'a str,
    root: OwnedFd,
    as_root: bool,
}

impl Ctx<'_> {
    fn err(&self, entry: &str, reason: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::InvalidImage {
            image: self.layer.to_string(),
            reason: format!("layer entry {entry:?}: {reason}"),
        }
    }
}

/// Splits an entry path into normal components (leading `/` and `.`
/// dropped); `None` if it contains `..`.
fn components(p: &Path) -> Option<Vec<&OsStr>> {
    let mut out = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

fn open_dir_beneath(dir: impl AsFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        RESOLVE,
    )
}

/// Opens (and with `create`, makes) the directory `comps` below the layer
/// root without ever following a symlink.
fn walk(ctx: &Ctx, entry: &str, comps: &[&OsStr], create: bool) -> Result<OwnedFd> {
    let mut fd = open_dir_beneath(&ctx.root, OsStr::new("."))
        .map_err(|e| ctx.err(entry, format!("opening layer root: {e}")))?;
    for c in comps {
        if create {
            match rustix::fs::mkdirat(&fd, *c, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(ctx.err(entry, format!("creating parent: {e}"))),
            }
        }
        fd = open_dir_beneath(&fd, c).map_err(|e| match e {
            Errno::LOOP | Errno::XDEV | Errno::NOTDIR => {
                ctx.err(entry, "a parent directory is a symlink or not a directory")
            }
            e => ctx.err(entry, format!("opening parent: {e}")),
        })?;
    }
    Ok(fd)
}

/// The directory the last entry went into, kept open: entries of one
/// directory follow each other in a tar, and opening every parent again
/// for each (one `openat2` and one `mkdirat` per path component) was most
/// of an unpack's system calls. Forgotten as soon as an entry creates,
/// replaces or removes that directory or one of its ancestors, so what it
/// holds is always what [`walk`] would open now.
#[derive(Default)]
struct DirCache {
    path: Vec<Vec<u8>>,
    fd: Option<OwnedFd>,
}

impl DirCache {
    fn is(&self, comps: &[&OsStr]) -> bool {
        self.path.len() == comps.len()
            && self.path.iter().zip(comps).all(|(a, b)| a == b.as_bytes())
    }

    /// `comps` is about to be created, replaced or removed.
    fn touch(&mut self, comps: &[&OsStr]) {
        let below = self.path.len() >= comps.len()
            && self.path.iter().zip(comps).all(|(a, b)| a == b.as_bytes());
        if below {
            self.fd = None;
            self.path.clear();
        }
    }

    /// The directory `parents` (created if missing), opened beneath the
    /// layer root without following symlinks.
    fn get(&mut self, ctx: &Ctx, entry: &str, parents: &[&OsStr]) -> Result<&OwnedFd> {
        if self.fd.is_none() || !self.is(parents) {
            self.fd = None;
            let fd = walk(ctx, entry, parents, true)?;
            self.path = parents.iter().map(|c| c.as_bytes().to_vec()).collect();
            self.fd = Some(fd);
        }
        self.fd
            .as_ref()
            .ok_or_else(|| ctx.err(entry, "parent directory not open"))
    }
}

/// Removes a non-directory (or empty directory) at `name`, if any.
fn remove_existing(ctx: &Ctx, entry: &str, dir: &OwnedFd, name: &OsStr) -> Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::ISDIR) => match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) => Ok(()),
            Err(e) => Err(ctx.err(entry, format!("replacing a directory: {e}"))),
        },
        Err(e) => Err(ctx.err(entry, format!("replacing: {e}"))),
    }
}

/// A numeric header field, with an all-blank field read as 0 the way Go's
/// archive/tar (docker, containerd) reads it.
fn lenient<T: Default>(v: io::Result<T>, raw: &[u8]) -> io::Result<T> {
    match v {
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(T::default()),
        v => v,
    }
}

/// The uid/gid of an entry as rustix ids (refusing the reserved -1).
fn owner(ctx: &Ctx, entry: &str, h: &tar::Header, pax: &Pax) -> Result<(Uid, Gid)> {
    let old = h.as_old();
    let uid = match pax.uid {
        Some(u) => u,
        None => lenient(h.uid(), &old.uid).map_err(|e| ctx.err(entry, e))?,
    };
    let gid = match pax.gid {
        Some(g) => g,
        None => lenient(h.gid(), &old.gid).map_err(|e| ctx.err(entry, e))?,
    };
    let (Ok(uid), Ok(gid)) = (u32::try_from(uid), u32::try_from(gid)) else {
        return Err(ctx.err(entry, "uid/gid out of range"));
    };
    if uid == u32::MAX || gid == u32::MAX {
        return Err(ctx.err(entry, "uid/gid out of range"));
    }
    Ok((Uid::from_raw(uid), Gid::from_raw(gid)))
}

/// chown (when we are root: as non-root keeping owners is impossible and
/// only tests run that way), then chmod (chown clears setuid), xattrs,
/// mtime. Returns the mode set.
fn apply_meta(ctx: &Ctx, entry: &str, fd: &OwnedFd, h: &tar::Header, pax: &Pax) -> Result<u32> {
    let (uid, gid) = owner(ctx, entry, h, pax)?;
    match rustix::fs::fchown(fd, Some(uid), Some(gid)) {
        Ok(()) => {}
        Err(e) if ctx.as_root => return Err(ctx.err(entry, format!("chown: {e}"))),
        Err(_) => {}
    }
    let mode = lenient(h.mode(), &h.as_old().mode).map_err(|e| ctx.err(entry, e))? & 0o7777;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))
        .map_err(|e| ctx.err(entry, format!("chmod: {e}")))?;
    for (name, value) in &pax.xattrs {
        if let Err(e) = rustix::fs::fsetxattr(fd, name.as_str(), value, XattrFlags::empty()) {
            tracing::warn!(layer = ctx.layer, entry, xattr = %name, "cannot set xattr: {e}");
        }
    }
    let mtime = Timespec {
        tv_sec: i64::try_from(h.mtime().unwrap_or(0)).unwrap_or(0),
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: mtime,
        last_modification: mtime,
    };
    rustix::fs::futimens(fd, &times).map_err(|e| ctx.err(entry, format!("utimes: {e}")))?;
    Ok(mode)
}

fn chown_at(
    ctx: &Ctx,
    entry: &str,
    dir: &OwnedFd,
    name: &OsStr,
    h: &tar::Header,
    pax: &Pax,
) -> Result<()> {
    let (uid, gid) = owner(ctx, entry, h, pax)?;
    match rustix::fs::chownat(dir, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW) {
        Err(e) if ctx.as_root => Err(ctx.err(entry, format!("chown: {e}"))),
        _ => Ok(()),
    }
}

/// What PAX records add to an entry: xattrs (`SCHILY.xattr.*`, minus the
/// overlay's own namespace) and owners too large for the header fields.
#[derive(Default)]
struct Pax {
    xattrs: Vec<(String, Vec<u8>)>,
    uid: Option<u64>,
    gid: Option<u64>,
}

fn pax_records<R: Read>(entry: &mut tar::Entry<R>) -> Pax {
    let mut out = Pax::default();
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            let Ok(key) = ext.key() else { continue };
            let num = || ext.value().ok().and_then(|v| v.trim().parse::<u64>().ok());
            match key {
                "uid" => out.uid = num(),
                "gid" => out.gid = num(),
                _ => {
                    if let Some(name) = key.strip_prefix("SCHILY.xattr.")
                        && !name.starts_with("trusted.overlay.")
                    {
                        out.xattrs
                            .push((name.to_string(), ext.value_bytes().to_vec()));
                    }
                }
            }
        }
    }
    out
}

/// Unpacks the uncompressed tar stream `reader` into the existing, empty
/// directory `dest`. `layer` names the layer in errors. On error `dest` is
/// left partially written: the caller removes it.
pub fn unpack_layer(
    reader: impl Read,
    dest: &Path,
    layer: &str,
    limits: &UnpackLimits,
) -> Result<UnpackStats> {
    let root = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| RuntimeError::io(dest, e.into()))?;
    let ctx = Ctx {
        layer,
        root,
        as_root: rustix::process::geteuid().is_root(),
    };
    let mut stats = UnpackStats::default();
    // File contents are copied through one large buffer (io::copy's 8 KiB
    // means a read and a write syscall per 8 KiB of a layer).
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut dirs = DirCache::default();
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| ctx.err("", format!("reading tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ctx.err("", format!("reading tar: {e}")))?;
        stats.entries += 1;
        if stats.entries > limits.max_entries {
            return Err(ctx.err("", format!("more than {} entries", limits.max_entries)));
        }
        let path_bytes = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&path_bytes).into_owned();
        let Some(comps) = components(Path::new(OsStr::from_bytes(&path_bytes))) else {
            return Err(ctx.err(&shown, "path contains '..'"));
        };
        let etype = entry.header().entry_type();
        // Before the data is read: the records precede it in the stream.
        let pax = pax_records(&mut entry);
        if matches!(
            etype,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        let Some((name, parents)) = comps.split_last() else {
            continue; // the root directory itself
        };
        let name_s = name.to_string_lossy();
        if name_s.starts_with(WHITEOUT_PREFIX) {
            whiteout(&ctx, &mut dirs, &shown, parents, &name_s)?;
            continue;
        }
        // This entry creates or replaces `comps`: a cached directory at or
        // below it may be about to change.
        dirs.touch(&comps);
        if etype.is_file()
            || etype == tar::EntryType::GNUSparse
            || etype == tar::EntryType::Continuous
        {
            let size = entry.size();
            if stats.bytes.saturating_add(size) > limits.max_bytes {
                return Err(ctx.err(
                    &shown,
                    format!("layer larger than the {} byte limit", limits.max_bytes),
                ));
            }
            let dir = dirs.get(&ctx, &shown, parents)?;
            remove_existing(&ctx, &shown, dir, name)?;
            let fd = rustix::fs::openat(
                dir,
                *name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|e| ctx.err(&shown, format!("create: {e}")))?;
            let mut file = std::fs::File::from(fd);
            // The entry reader is bounded by the header size; a short
            // archive is an error from `copy`.
            let n = copy(&mut (&mut entry).take(size), &mut file, &mut buf)
                .map_err(|e| ctx.err(&shown, format!("write: {e}")))?;
            stats.bytes += n;
            let fd = OwnedFd::from(file);
            let mode = apply_meta(&ctx, &shown, &fd, entry.header(), &pax)?;
            if mode & 0o6000 != 0 && stats.setuid.len() < MAX_SETUID_LISTED {
                stats.setuid.push(
                    comps
                        .iter()
                        .map(|c| c.to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        } else if etype.is_dir() {
            let dir = dirs.get(&ctx, &shown, parents)?;
            let fd = match open_dir_beneath(dir, name) {
                Ok(fd) => fd,
                Err(_) => {
                    remove_existing(&ctx, &shown, dir, name)?;
                    rustix::fs::mkdirat(dir, *name, Mode::from_raw_mode(0o700))
                        .map_err(|e| ctx.err(&shown, format!("mkdir: {e}")))?;
                    open_dir_beneath(dir, name)
                        .map_err(|e| ctx.err(&shown, format!("open dir: {e}")))?
                }
            };
            apply_meta(&ctx, &shown, &fd, entry.header(), &pax)?;
        } else if etype.is_symlink() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| ctx.err(&shown, "symlink without target"))?
                .into_owned();
            let dir = dirs.get(&ctx, &shown, parents)?;
            remove_existing(&ctx, &shown, dir, name)?;
            // The target is stored verbatim: it is only ever resolved
            // inside the container's root, never by us.
            rustix::fs::symlinkat(OsStr::from_bytes(&target), dir, *name)
                .map_err(|e| ctx.err(&shown, format!("symlink: {e}")))?;
            chown_at(&ctx, &shown, dir, name, entry.header(), &pax)?;
        } else if etype.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| ctx.err(&shown, "hard link without target"))?
                .into_owned();
            let tpath = Path::new(OsStr::from_bytes(&target));
            let Some(tcomps) = components(tpath) else {
                return Err(ctx.err(&shown, "hard link target contains '..'"));
            };
            let Some((tname, tparents)) = tcomps.split_last() else {
                return Err(ctx.err(&shown, "hard link to the root directory"));
            };
            let tdir = walk(&ctx, &shown, tparents, false)
                .map_err(|_| ctx.err(&shown, "hard link target is not inside the layer"))?;
            let dir = dirs.get(&ctx, &shown, parents)?;
            remove_existing(&ctx, &shown, dir, name)?;
            rustix::fs::linkat(&tdir, *tname, dir, *name, AtFlags::empty()).map_err(|e| {
                ctx.err(
                    &shown,
                    format!("hard link target is not a file inside the layer: {e}"),
                )
            })?;
        } else if etype.is_fifo() {
            let dir = dirs.get(&ctx, &shown, parents)?;
            remove_existing(&ctx, &shown, dir, name)?;
            let h = entry.header();
            let mode =
                lenient(h.mode(), &h.as_old().mode).map_err(|e| ctx.err(&shown, e))? & 0o7777;
            rustix::fs::mknodat(dir, *name, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
                .map_err(|e| ctx.err(&shown, format!("mkfifo: {e}")))?;
            chown_at(&ctx, &shown, dir, name, entry.header(), &pax)?;
            rustix::fs::chmodat(dir, *name, Mode::from_raw_mode(mode), AtFlags::empty())
                .map_err(|e| ctx.err(&shown, format!("chmod: {e}")))?;
        } else if etype.is_character_special() || etype.is_block_special() {
            return Err(ctx.err(&shown, "device nodes are not allowed in image layers"));
        } else {
            tracing::warn!(layer, entry = %shown, "skipping unsupported tar entry type {etype:?}");
        }
    }
    Ok(stats)
}

const COPY_BUFFER: usize = 256 * 1024;

/// `io::copy` through `buf`; a source that ends early is an error.
fn copy(r: &mut impl Read, w: &mut impl io::Write, buf: &mut [u8]) -> io::Result<u64> {
    let mut n = 0u64;
    loop {
        // Fill as much of the buffer as the source gives before writing,
        // so writes are large even when reads are small.
        let mut filled = 0;
        while filled < buf.len() {
            match r.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(k) => filled += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(n);
        }
        w.write_all(&buf[..filled])?;
        n += filled as u64;
        if filled < buf.len() {
            return Ok(n);
        }
    }
}

/// `.wh.<name>` -> whiteout device; `.wh..wh..opq` -> opaque directory.
fn whiteout(
    ctx: &Ctx,
    dirs: &mut DirCache,
    entry: &str,
    parents: &[&OsStr],
    name: &str,
) -> Result<()> {
    if name == OPAQUE_MARKER {
        let dir = dirs.get(ctx, entry, parents)?;
        return rustix::fs::fsetxattr(dir, OPAQUE_XATTR, b"y", XattrFlags::empty())
            .map_err(|e| ctx.err(entry, format!("marking directory opaque: {e}")));
    }
    if name.starts_with(".wh..wh.") {
        return Ok(()); // aufs bookkeeping (.wh..wh.plnk etc.): meaningless here
    }
    let target = &name[WHITEOUT_PREFIX.len()..];
    if target.is_empty() || target == "." || target == ".." || target.contains('/') {
        return Err(ctx.err(entry, "invalid whiteout"));
    }
    let target = OsStr::new(target);
    let mut full = parents.to_vec();
    full.push(target);
    dirs.touch(&full);
    let dir = dirs.get(ctx, entry, parents)?;
    remove_existing(ctx, entry, dir, target)?;
    rustix::fs::mknodat(
        dir,
        target,
        FileType::CharacterDevice,
        Mode::empty(),
        rustix::fs::makedev(0, 0),
    )
    .map_err(|e| ctx.err(entry, format!("creating whiteout: {e}")))
}
