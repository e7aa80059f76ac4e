//! Reading a device in this process. The sandboxed parser process runs
//! exactly this code on its side of the pipe; the parent never runs it on
//! a medium itself.

use super::{DiskError, DiskOptions, DiskProblem, DiskVisitor, Layout, VolumeInfo, Where};
use kensa_diskfs::{
    self as diskfs, Attributes, Device, DeviceReader, Entry, FdDevice, Flow, FsError, ProblemKind,
    Visitor, Window,
};
use std::fs::File;
use std::io::Read;
use std::sync::Arc;

fn device(dev: &File) -> Result<Arc<dyn Device>, DiskError> {
    let file = dev.try_clone()?;
    let len = FdDevice::size_of(&file)?;
    Ok(Arc::new(FdDevice::new(file, len)))
}

/// See [`super::probe`].
pub(super) fn probe(dev: &File, _opts: &DiskOptions) -> Result<Layout, DiskError> {
    let dev = device(dev)?;
    let whole = VolumeInfo {
        size: dev.len(),
        ..Default::default()
    };
    Ok(Layout {
        table: None,
        mbr_len: 0,
        volumes: vec![identify(&dev, whole)],
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

/// See [`super::read`].
pub(super) fn read(
    dev: &File,
    layout: &Layout,
    opts: &DiskOptions,
    visit: &mut dyn DiskVisitor,
) -> Result<(), DiskError> {
    let dev = device(dev)?;
    if layout.mbr_len > 0 {
        let len = layout.mbr_len.min(dev.len());
        let mut r = DeviceReader::new(Arc::new(Window::new(dev.clone(), 0, len)));
        let at = Where {
            volume: None,
            path: &[b"$mbr".to_vec()],
        };
        if visit.file(at, len, Attributes::default(), &mut r) == Flow::Stop {
            return Ok(());
        }
    }
    for v in &layout.volumes {
        if read_volume(&dev, v, opts, visit) == Flow::Stop {
            break;
        }
    }
    Ok(())
}

fn read_volume(
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
