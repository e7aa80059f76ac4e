//! Reading a device in this process: the code the sandboxed parser
//! process (`sandbox`) runs on its side of the pipe, one job per child —
//! the probe (partition table, then each volume's file system), the
//! `$mbr` pseudo-file, or one volume. The parent never runs it on a medium
//! itself.

use super::{DiskError, DiskOptions, DiskProblem, DiskVisitor, Layout, VolumeInfo, Where};
use kensa_diskfs::{
    self as diskfs, partition, Attributes, Device, DeviceReader, Entry, Flow, FsError, ProblemKind,
    Visitor, Window,
};
use std::io::Read;
use std::sync::Arc;

/// See [`super::probe`]: the partition table, then each volume's file
/// system, label and serial. A table that names no readable partition
/// leaves the whole device as one volume, so its bytes are still read.
pub(super) fn probe(dev: &Arc<dyn Device>) -> Result<Layout, DiskError> {
    let t = partition::read_table(&**dev)?;
    let mut volumes: Vec<VolumeInfo> = t
        .partitions
        .iter()
        .map(|p| VolumeInfo {
            index: Some(p.index),
            offset: p.offset,
            size: p.size,
            partition_type: Some(p.type_text()),
            ..Default::default()
        })
        .collect();
    if volumes.is_empty() {
        volumes.push(VolumeInfo {
            size: dev.len(),
            ..Default::default()
        });
    }
    Ok(Layout {
        table: t.kind.map(|k| k.as_str().to_string()),
        mbr_len: t.boot_region,
        volumes: volumes.into_iter().map(|v| identify(dev, v)).collect(),
        problems: t.problems,
    })
}

/// Fills in a volume's file system, label and serial.
fn identify(dev: &Arc<dyn Device>, mut v: VolumeInfo) -> VolumeInfo {
    let win: Arc<dyn Device> = Arc::new(Window::new(dev.clone(), v.offset, v.size));
    if let Ok(Some(kind)) = diskfs::detect(&*win) {
        v.fs = Some(kind.as_str().to_string());
        if let Ok(fs) = diskfs::open(kind, win) {
            let l = fs.label();
            v.label = l.label;
            v.serial = l.serial;
        }
    }
    v
}

/// The `$mbr` pseudo-file: the first `len` bytes of the device.
pub(super) fn read_mbr(dev: &Arc<dyn Device>, len: u64, visit: &mut dyn DiskVisitor) -> Flow {
    let len = len.min(dev.len());
    let mut r = DeviceReader::new(Arc::new(Window::new(dev.clone(), 0, len)));
    let at = Where {
        volume: None,
        path: &[b"$mbr".to_vec()],
    };
    visit.file(at, len, Attributes::default(), &mut r)
}

/// Reads one volume: `$boot`, then every file; or, when no reader opens
/// it, the problem and its raw bytes.
pub(super) fn read_volume(
    dev: &Arc<dyn Device>,
    v: &VolumeInfo,
    opts: &DiskOptions,
    visit: &mut dyn DiskVisitor,
) -> Flow {
    let win: Arc<dyn Device> = Arc::new(Window::new(dev.clone(), v.offset, v.size));
    let here = Where {
        volume: Some(v),
        path: &[],
    };
    let kind = match diskfs::detect(&*win) {
        Ok(Some(kind)) => kind,
        Ok(None) => {
            let why = "no file system kensa reads (an unknown partition or a raw volume)";
            return raw(win, v, DiskProblem::UnsupportedFs, why, visit);
        }
        Err(e) => return visit.problem(here, DiskProblem::Fs(ProblemKind::Io), &e.to_string()),
    };
    let mut fs = match diskfs::open(kind, win.clone()) {
        Ok(fs) => fs,
        Err(FsError::Unsupported(why)) => {
            return raw(win, v, DiskProblem::UnsupportedFs, &why, visit)
        }
        Err(e) => {
            let why = format!("{} cannot be opened: {e}", kind.as_str());
            return raw(win, v, DiskProblem::Corrupt, &why, visit);
        }
    };
    let boot = fs.boot_len().min(win.len());
    let mut r = DeviceReader::new(Arc::new(Window::new(win.clone(), 0, boot)));
    let at = Where {
        volume: Some(v),
        path: &[b"$boot".to_vec()],
    };
    if visit.file(at, boot, Attributes::default(), &mut r) == Flow::Stop {
        return Flow::Stop;
    }
    let mut adapter = Adapter {
        volume: v,
        visit,
        stopped: false,
    };
    if let Err(e) = fs.walk(&opts.limits, &mut adapter) {
        let problem = match e {
            FsError::Io(_) => ProblemKind::Io,
            FsError::Unsupported(_) => ProblemKind::Unsupported,
            FsError::Corrupt(_) => ProblemKind::Corrupt,
        };
        let detail = format!("the walk of the {} volume ended early: {e}", kind.as_str());
        return adapter
            .visit
            .problem(here, DiskProblem::Fs(problem), &detail);
    }
    if adapter.stopped {
        Flow::Stop
    } else {
        Flow::Continue
    }
}

/// A volume no reader opens: the problem, then its raw bytes as one blob.
fn raw(
    win: Arc<dyn Device>,
    v: &VolumeInfo,
    problem: DiskProblem,
    why: &str,
    visit: &mut dyn DiskVisitor,
) -> Flow {
    let here = Where {
        volume: Some(v),
        path: &[],
    };
    if visit.problem(here, problem, why) == Flow::Stop {
        return Flow::Stop;
    }
    let len = win.len();
    visit.file(
        here,
        len,
        Attributes::default(),
        &mut DeviceReader::new(win),
    )
}

/// A reader's visitor, passing each file on with its volume.
struct Adapter<'v, 'w> {
    volume: &'v VolumeInfo,
    visit: &'w mut dyn DiskVisitor,
    stopped: bool,
}

impl Visitor for Adapter<'_, '_> {
    fn file(&mut self, entry: &Entry<'_>, data: &mut dyn Read) -> Flow {
        let at = Where {
            volume: Some(self.volume),
            path: entry.path,
        };
        let flow = self.visit.file(at, entry.size, entry.attrs, data);
        self.stopped |= flow == Flow::Stop;
        flow
    }

    fn problem(&mut self, path: &[Vec<u8>], kind: ProblemKind, detail: &str) -> Flow {
        let at = Where {
            volume: Some(self.volume),
            path,
        };
        let flow = self.visit.problem(at, DiskProblem::Fs(kind), detail);
        self.stopped |= flow == Flow::Stop;
        flow
    }
}
