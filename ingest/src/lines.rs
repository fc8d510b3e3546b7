//! Splits a byte stream into lines with offsets, streaming past lines longer than the limit.
//!
//! The splitter is fed chunks as they are read and never consumes a line before its `\n`
//! arrives, except when the caller says the stream has ended (`finish`).

/// One item found in the stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LineItem<'a> {
    /// A complete line (without its `\n`) starting at `offset`; the next line starts at `end`.
    Line {
        offset: u64,
        end: u64,
        bytes: &'a [u8],
    },
    /// A line longer than the limit, skipped without being buffered.
    Overlong { offset: u64, end: u64, length: u64 },
}

impl LineItem<'_> {
    /// Offset of the byte after the item: where the next line starts.
    pub(crate) fn end(&self) -> u64 {
        match *self {
            LineItem::Line { end, .. } | LineItem::Overlong { end, .. } => end,
        }
    }
}

/// Incremental line splitter over a stream that starts at `consumed`.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    max_line_bytes: usize,
    /// Offset of the first byte not yet part of an emitted item: always a line boundary.
    consumed: u64,
    /// Bytes of the current, incomplete line.
    partial: Vec<u8>,
    /// Length so far of an overlong line being skipped (it starts at `consumed`).
    skipping: Option<u64>,
}

impl LineSplitter {
    pub(crate) fn new(start: u64, max_line_bytes: usize) -> LineSplitter {
        LineSplitter {
            max_line_bytes,
            consumed: start,
            partial: Vec::new(),
            skipping: None,
        }
    }

    /// The line boundary after the last emitted item.
    pub(crate) fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Offset of the next byte the splitter expects: `consumed` plus what it holds back.
    pub(crate) fn fed(&self) -> u64 {
        self.consumed + self.skipping.unwrap_or(self.partial.len() as u64)
    }

    /// Forgets everything and starts again at `start` (after a truncation).
    pub(crate) fn reset(&mut self, start: u64) {
        self.consumed = start;
        self.partial.clear();
        self.skipping = None;
    }

    /// Feeds the next chunk of the stream; calls `sink` for every line it completes.
    pub(crate) fn push(&mut self, mut data: &[u8], sink: &mut impl FnMut(LineItem<'_>)) {
        while !data.is_empty() {
            let newline = memchr::memchr(b'\n', data);
            if let Some(skipped) = self.skipping {
                match newline {
                    Some(index) => {
                        let length = skipped + index as u64;
                        self.emit_overlong(length, length + 1, sink);
                        data = &data[index + 1..];
                    }
                    None => {
                        self.skipping = Some(skipped + data.len() as u64);
                        return;
                    }
                }
                continue;
            }
            match newline {
                Some(index) => {
                    let length = self.partial.len() + index;
                    if length > self.max_line_bytes {
                        self.partial.clear();
                        self.emit_overlong(length as u64, length as u64 + 1, sink);
                    } else if self.partial.is_empty() {
                        let offset = self.consumed;
                        self.consumed += index as u64 + 1;
                        sink(LineItem::Line {
                            offset,
                            end: self.consumed,
                            bytes: &data[..index],
                        });
                    } else {
                        let mut line = std::mem::take(&mut self.partial);
                        line.extend_from_slice(&data[..index]);
                        let offset = self.consumed;
                        self.consumed += line.len() as u64 + 1;
                        sink(LineItem::Line {
                            offset,
                            end: self.consumed,
                            bytes: &line,
                        });
                        line.clear();
                        self.partial = line;
                    }
                    data = &data[index + 1..];
                }
                None => {
                    let length = self.partial.len() + data.len();
                    if length > self.max_line_bytes {
                        self.partial = Vec::new();
                        self.skipping = Some(length as u64);
                    } else {
                        self.partial.extend_from_slice(data);
                    }
                    return;
                }
            }
        }
    }

    /// The stream has ended: a final line without `\n` is emitted as it is.
    pub(crate) fn finish(&mut self, sink: &mut impl FnMut(LineItem<'_>)) {
        if let Some(skipped) = self.skipping {
            self.emit_overlong(skipped, skipped, sink);
        } else if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            let offset = self.consumed;
            self.consumed += line.len() as u64;
            sink(LineItem::Line {
                offset,
                end: self.consumed,
                bytes: &line,
            });
        }
    }

    fn emit_overlong(
        &mut self,
        length: u64,
        consumed_bytes: u64,
        sink: &mut impl FnMut(LineItem<'_>),
    ) {
        let offset = self.consumed;
        self.skipping = None;
        self.consumed += consumed_bytes;
        sink(LineItem::Overlong {
            offset,
            end: self.consumed,
            length,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Line(u64, u64, String),
        Overlong(u64, u64, u64),
    }

    fn split(chunks: &[&str], max: usize, finish: bool) -> (Vec<Owned>, u64) {
        let mut splitter = LineSplitter::new(0, max);
        let mut items = Vec::new();
        let mut sink = |item: LineItem<'_>| {
            items.push(match item {
                LineItem::Line { offset, end, bytes } => {
                    Owned::Line(offset, end, String::from_utf8(bytes.to_vec()).unwrap())
                }
                LineItem::Overlong {
                    offset,
                    end,
                    length,
                } => Owned::Overlong(offset, end, length),
            })
        };
        for chunk in chunks {
            splitter.push(chunk.as_bytes(), &mut sink);
        }
        if finish {
            splitter.finish(&mut sink);
        }
        (items, splitter.consumed())
    }

    #[test]
    fn complete_lines_across_chunks() {
        let (items, consumed) = split(&["ab\ncd", "e\n\nf"], 10, false);
        assert_eq!(
            items,
            vec![
                Owned::Line(0, 3, "ab".into()),
                Owned::Line(3, 7, "cde".into()),
                Owned::Line(7, 8, "".into())
            ]
        );
        assert_eq!(consumed, 8, "the unterminated `f` is not consumed");
    }

    #[test]
    fn final_unterminated_line_only_on_finish() {
        let (items, consumed) = split(&["ab\ncd"], 10, true);
        assert_eq!(
            items,
            vec![
                Owned::Line(0, 3, "ab".into()),
                Owned::Line(3, 5, "cd".into())
            ]
        );
        assert_eq!(consumed, 5);
    }

    #[test]
    fn overlong_lines_are_skipped_in_one_chunk_and_across_chunks() {
        let (items, consumed) = split(&["abcdefgh\nok\nxyz", "xyzxyz", "xyz\nend\n"], 4, false);
        assert_eq!(
            items,
            vec![
                Owned::Overlong(0, 9, 8),
                Owned::Line(9, 12, "ok".into()),
                Owned::Overlong(12, 25, 12),
                Owned::Line(25, 29, "end".into()),
            ]
        );
        assert_eq!(consumed, 29);
    }

    #[test]
    fn line_of_exactly_the_limit_is_kept() {
        let (items, _) = split(&["ab", "cd\n"], 4, false);
        assert_eq!(items, vec![Owned::Line(0, 5, "abcd".into())]);
    }

    #[test]
    fn overlong_unterminated_line_at_finish() {
        let (items, consumed) = split(&["ok\n", "abcdefgh"], 4, true);
        assert_eq!(
            items,
            vec![Owned::Line(0, 3, "ok".into()), Owned::Overlong(3, 11, 8)]
        );
        assert_eq!(consumed, 11);
    }
}
