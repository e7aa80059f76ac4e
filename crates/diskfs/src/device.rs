//! The read-only byte sources readers read from. A [`Device`] answers
//! "these bytes at this offset" and nothing else: no writes, no seek state
//! shared between readers, every read checked against the device's end.
//! [`FdDevice`] reads a descriptor with `pread` (a block device, an image
//! file, a memfd); [`MemDevice`] is bytes in memory (an image inside an
//! archive, tests, fuzzing); [`Window`] is a range of another device (a
//! partition); [`DeviceReader`] gives crates that want `Read + Seek` a
//! cursor over a device.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
#[cfg(unix)]
use std::os::unix::fs::FileExt;
#[cfg(windows)]
use std::os::windows::fs::FileExt;
use std::sync::Arc;

/// A read-only, random-access byte source.
pub trait Device: Send + Sync {
    /// Length in bytes.
    fn len(&self) -> u64;
    /// Whether the device holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `offset`; an error (`UnexpectedEof`) when the range
    /// passes the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

fn past_end(offset: u64, want: usize, len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("read of {want} bytes at {offset} passes the device's end at {len}"),
    )
}

fn check_range(offset: u64, want: usize, len: u64) -> io::Result<()> {
    match offset.checked_add(want as u64) {
        Some(end) if end <= len => Ok(()),
        _ => Err(past_end(offset, want, len)),
    }
}

/// A descriptor read with `pread`; its length is fixed when it is made.
pub struct FdDevice {
    file: File,
    len: u64,
}

impl FdDevice {
    /// A device over `file`, `len` bytes long (a block device's size comes
    /// from `BLKGETSIZE64`, a file's from its metadata; the caller knows).
    pub fn new(file: File, len: u64) -> FdDevice {
        FdDevice { file, len }
    }

    /// The size of what `file` holds: a regular file's length, or a block
    /// device's size (found by seeking to its end).
    pub fn size_of(file: &File) -> io::Result<u64> {
        let meta = file.metadata()?;
        if meta.is_file() {
            return Ok(meta.len());
        }
        let mut f = file;
        let end = f.seek(SeekFrom::End(0))?;
        f.seek(SeekFrom::Start(0))?;
        Ok(end)
    }
}

impl Device for FdDevice {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        check_range(offset, buf.len(), self.len)?;
        read_exact_at(&self.file, buf, offset)
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    file.read_exact_at(buf, offset)
}

/// `seek_read` (ReadFile at an offset) until `buf` is full.
#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Bytes in memory.
pub struct MemDevice(pub Arc<[u8]>);

impl Device for MemDevice {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        check_range(offset, buf.len(), self.len())?;
        // In range: checked above.
        let start = offset as usize;
        buf.copy_from_slice(&self.0[start..start + buf.len()]);
        Ok(())
    }
}

/// `len` bytes of another device from `offset` (a partition), clipped to
/// what the device holds.
pub struct Window {
    inner: Arc<dyn Device>,
    offset: u64,
    len: u64,
}

impl Window {
    pub fn new(inner: Arc<dyn Device>, offset: u64, len: u64) -> Window {
        let avail = inner.len().saturating_sub(offset);
        Window {
            inner,
            offset,
            len: len.min(avail),
        }
    }
}

impl Device for Window {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        check_range(offset, buf.len(), self.len)?;
        self.inner.read_at(self.offset + offset, buf)
    }
}

/// A `Read + Seek` cursor over a device, for crates that read that way.
/// Reads stop at the device's end (a short read, then 0).
pub struct DeviceReader {
    dev: Arc<dyn Device>,
    pos: u64,
}

impl DeviceReader {
    pub fn new(dev: Arc<dyn Device>) -> DeviceReader {
        DeviceReader { dev, pos: 0 }
    }
}

impl Read for DeviceReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.dev.len().saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.dev.read_at(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for DeviceReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let base = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.dev.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let pos = base.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the device's start",
            )
        })?;
        self.pos = pos;
        Ok(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_reads_inside_and_refuses_past_its_end() {
        let mem: Arc<dyn Device> = Arc::new(MemDevice((0u8..=99).collect::<Vec<_>>().into()));
        let w = Window::new(mem, 10, 20);
        let mut b = [0u8; 5];
        w.read_at(15, &mut b).unwrap();
        assert_eq!(b, [25, 26, 27, 28, 29]);
        assert!(w.read_at(16, &mut b).is_err());
        assert!(w.read_at(u64::MAX, &mut b).is_err());
    }

    #[test]
    fn window_is_clipped_to_the_device() {
        let mem: Arc<dyn Device> = Arc::new(MemDevice(vec![0u8; 50].into()));
        assert_eq!(Window::new(mem.clone(), 40, 100).len(), 10);
        assert_eq!(Window::new(mem, 80, 100).len(), 0);
    }

    #[test]
    fn reader_stops_at_the_end() {
        let mem: Arc<dyn Device> = Arc::new(MemDevice(vec![7u8; 10].into()));
        let mut r = DeviceReader::new(mem);
        r.seek(SeekFrom::Start(8)).unwrap();
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        assert_eq!(v, vec![7, 7]);
    }
}
