//! File identity by content: the fingerprint of the first line, and gzip detection.
//!
//! The fingerprint is the xxh3-64 hash (hex) of the first line including its `\n`, or of the
//! first 4 KiB when the first line is longer. It is computed over the decompressed stream, so a
//! file, its renamed copy and its gzipped backup share it.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

/// How many leading bytes at most identify a file.
pub(crate) const FINGERPRINT_BYTES: usize = 4096;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A file's fingerprint and how many leading bytes it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub(crate) hex: String,
    pub(crate) len: usize,
}

/// The fingerprint of a stream whose first bytes (up to [`FINGERPRINT_BYTES`]) are `prefix`.
/// `None` while the first line is incomplete, unless `at_end` says no more bytes will come.
pub(crate) fn fingerprint(prefix: &[u8], at_end: bool) -> Option<Fingerprint> {
    let prefix = &prefix[..prefix.len().min(FINGERPRINT_BYTES)];
    let len = match memchr::memchr(b'\n', prefix) {
        Some(index) => index + 1,
        None if prefix.len() == FINGERPRINT_BYTES => FINGERPRINT_BYTES,
        None if at_end && !prefix.is_empty() => prefix.len(),
        None => return None,
    };
    let hash = xxhash_rust::xxh3::xxh3_64(&prefix[..len]);
    Some(Fingerprint {
        hex: format!("{hash:016x}"),
        len,
    })
}

/// Whether the file starts with the gzip magic bytes.
pub(crate) fn is_gzip(file: &File) -> io::Result<bool> {
    let mut magic = [0u8; 2];
    let read = read_full_at(file, &mut magic, 0)?;
    Ok(read == 2 && magic == GZIP_MAGIC)
}

/// Reads from `offset` until `buf` is full or the file ends; returns the bytes read.
pub(crate) fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// One read, retried when interrupted: data read before a stream error is never lost.
pub(crate) fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// The fingerprint of a plain file read through `file`.
pub(crate) fn plain_fingerprint(file: &File, at_end: bool) -> io::Result<Option<Fingerprint>> {
    let mut prefix = [0u8; FINGERPRINT_BYTES];
    let read = read_full_at(file, &mut prefix, 0)?;
    Ok(fingerprint(&prefix[..read], at_end))
}

/// The fingerprint of a gzip file: decompresses its first bytes. `None` when the
/// decompressed first line is not complete yet (the file may still be being written).
pub(crate) fn gzip_fingerprint(file: &File) -> io::Result<Option<Fingerprint>> {
    let mut decoder = flate2::read::MultiGzDecoder::new(io::BufReader::new(ReadAt::new(file, 0)));
    let mut prefix = vec![0u8; FINGERPRINT_BYTES];
    match read_full(&mut decoder, &mut prefix) {
        Ok(read) => Ok(fingerprint(&prefix[..read], read < FINGERPRINT_BYTES)),
        Err(error) if is_corrupt_gzip(&error) => {
            // Whatever was decompressed before the stream broke off can still name the file.
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Reads a file from a given offset with positioned reads, leaving the file's cursor alone.
#[derive(Debug)]
pub(crate) struct ReadAt<'a> {
    file: &'a File,
    offset: u64,
}

impl<'a> ReadAt<'a> {
    pub(crate) fn new(file: &'a File, offset: u64) -> ReadAt<'a> {
        ReadAt { file, offset }
    }
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.file.read_at(buf, self.offset)?;
        self.offset += read as u64;
        Ok(read)
    }
}

/// Whether a read error of a gzip stream means bad or incomplete data rather than failed IO.
pub(crate) fn is_corrupt_gzip(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_names_the_file() {
        let short = fingerprint(b"{\"a\":1}\n{\"b\":2}\n", false).unwrap();
        assert_eq!(short.len, 8);
        assert_eq!(
            short,
            fingerprint(b"{\"a\":1}\nsomething else", false).unwrap()
        );
        assert_ne!(short, fingerprint(b"{\"a\":2}\n", false).unwrap());
    }

    #[test]
    fn incomplete_first_line_waits_unless_at_end() {
        assert_eq!(fingerprint(b"{\"a\":", false), None);
        assert_eq!(fingerprint(b"", true), None);
        assert_eq!(fingerprint(b"{\"a\":", true).unwrap().len, 5);
    }

    #[test]
    fn long_first_line_uses_the_first_4_kib() {
        let long = vec![b'x'; FINGERPRINT_BYTES + 10];
        let fingerprint = fingerprint(&long, false).unwrap();
        assert_eq!(fingerprint.len, FINGERPRINT_BYTES);
    }
}
