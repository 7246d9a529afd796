//! Two-column text aligned as buildx aligns `imagetools inspect` (Go's `text/tabwriter`
//! with minimum width 0, padding 1, spaces): in each block of rows the labels are padded
//! to the widest label plus one, an empty label included, so output matches buildx's to
//! the byte, trailing spaces and all.

/// Rows of `label\tvalue` written as one tabwriter block between flushes.
#[derive(Debug, Default)]
pub(super) struct Block {
    rows: Vec<(String, String)>,
}

impl Block {
    /// Adds a row.
    pub(super) fn row(&mut self, label: impl Into<String>, value: impl Into<String>) {
        self.rows.push((label.into(), value.into()));
    }

    /// Writes the rows aligned and empties the block (a tabwriter `Flush`).
    pub(super) fn flush_into(&mut self, out: &mut String) {
        let width = self
            .rows
            .iter()
            .map(|(label, _)| label.chars().count() + 1)
            .max()
            .unwrap_or(0);
        for (label, value) in self.rows.drain(..) {
            out.push_str(&label);
            let pad = width - label.chars().count();
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&value);
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_pad_to_the_widest_plus_one_and_empty_rows_are_all_padding() {
        let mut block = Block::default();
        block.row("Name:", "a");
        block.row("", "");
        block.row("MediaType:", "b");
        let mut out = String::new();
        block.flush_into(&mut out);
        assert_eq!(out, "Name:      a\n           \nMediaType: b\n");
        block.row("x:", "y");
        let mut again = String::new();
        block.flush_into(&mut again);
        assert_eq!(again, "x: y\n", "a flush starts a new block");
    }
}
