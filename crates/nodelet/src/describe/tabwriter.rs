//! Go's `text/tabwriter` column alignment, which kubectl's describe and
//! table printers rely on: tab-terminated cells of consecutive lines form a
//! column block padded to its widest cell; the text after a line's last tab
//! is not aligned; a line without tabs ends every block.

/// A tabwriter with Go's semantics for `padchar ' '`, no flags other than
/// `RememberWidths`.
#[derive(Debug, Clone)]
pub struct TabWriter {
    minwidth: usize,
    padding: usize,
    /// Keep the widest width seen per column across flushes (kubectl's
    /// forked tabwriter does, so rows of a watch line up with the header).
    remember: bool,
    max_widths: Vec<usize>,
    widths: Vec<usize>,
    lines: Vec<Vec<String>>,
    partial: String,
    out: String,
}

impl TabWriter {
    pub fn new(minwidth: usize, padding: usize, remember: bool) -> Self {
        TabWriter {
            minwidth,
            padding,
            remember,
            max_widths: Vec::new(),
            widths: Vec::new(),
            lines: Vec::new(),
            partial: String::new(),
            out: String::new(),
        }
    }

    /// kubectl describe's settings: `Init(out, 0, 8, 2, ' ', 0)`.
    pub fn describe() -> Self {
        TabWriter::new(0, 2, false)
    }

    /// kubectl get's settings: minwidth 6, padding 3, remembered widths.
    pub fn table() -> Self {
        TabWriter::new(6, 3, true)
    }

    pub fn write(&mut self, text: &str) {
        self.partial.push_str(text);
        while let Some(pos) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=pos).collect();
            let cells: Vec<String> = line[..line.len() - 1]
                .split('\t')
                .map(str::to_string)
                .collect();
            let single = cells.len() == 1;
            self.lines.push(cells);
            // A line with one cell cannot affect later lines' formatting.
            if single {
                self.flush();
            }
        }
    }

    /// Formats everything buffered (complete lines) into the output.
    pub fn flush(&mut self) {
        let lines = std::mem::take(&mut self.lines);
        self.format(&lines, 0, lines.len());
    }

    /// Flushes and returns all output so far.
    pub fn take(&mut self) -> String {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.write(&rest);
            self.write("\n");
            // The synthetic newline is not part of the text.
            self.flush();
            self.out.pop();
        }
        self.flush();
        std::mem::take(&mut self.out)
    }

    fn format(&mut self, lines: &[Vec<String>], mut line0: usize, line1: usize) {
        let column = self.widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            // A block of lines that all have a cell in this column.
            self.write_lines(lines, line0, this);
            line0 = this;
            let mut width = self.minwidth;
            while this < line1 && column + 1 < lines[this].len() {
                width = width.max(lines[this][column].chars().count() + self.padding);
                this += 1;
            }
            if self.remember {
                if self.max_widths.len() <= column {
                    self.max_widths.resize(column + 1, 0);
                }
                width = width.max(self.max_widths[column]);
                self.max_widths[column] = width;
            }
            self.widths.push(width);
            self.format(lines, line0, this);
            self.widths.pop();
            line0 = this;
        }
        self.write_lines(lines, line0, line1);
    }

    fn write_lines(&mut self, lines: &[Vec<String>], from: usize, to: usize) {
        for line in &lines[from..to] {
            for (j, cell) in line.iter().enumerate() {
                self.out.push_str(cell);
                if j + 1 < line.len()
                    && let Some(&w) = self.widths.get(j)
                {
                    let n = w.saturating_sub(cell.chars().count());
                    self.out.extend(std::iter::repeat_n(' ', n));
                }
            }
            self.out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_blocks_and_breaks_on_single_cells() {
        let mut w = TabWriter::describe();
        w.write("Name:\tx\nService Account:\tdefault\nContainers:\n  c:\n    Image:\tbusybox\n    Restart Count:\t0\n");
        assert_eq!(
            w.take(),
            "Name:             x\nService Account:  default\nContainers:\n  c:\n    Image:          busybox\n    Restart Count:  0\n"
        );
    }

    #[test]
    fn last_cell_is_not_padded_and_nested_columns_align() {
        let mut w = TabWriter::table();
        w.write("NAME\tREADY\tSTATUS\nlifecycle-demo\t1/1\tRunning\n");
        assert_eq!(
            w.take(),
            "NAME             READY   STATUS\nlifecycle-demo   1/1     Running\n"
        );
    }

    #[test]
    fn remembered_widths_apply_to_later_rows() {
        let mut w = TabWriter::table();
        w.write("NAME\tAGE\nlong-name-here\t1s\n");
        w.flush();
        w.write("x\t2s\n");
        assert_eq!(
            w.take(),
            "NAME             AGE\nlong-name-here   1s\nx                2s\n"
        );
    }
}
