//! A FUSE filesystem that behaves like the kernel's configfs-tsm report root
//! (`/sys/kernel/config/tsm/report`), backed by a closure that makes the
//! reports: for tests of configfs-tsm clients on machines without a TEE.
//!
//! What it does as the kernel does (drivers/virt/coco/tsm.c over configfs):
//!
//! * `mkdir NAME` at the root makes a report directory with the attribute
//!   files `inblob` (write-only), `outblob`, `auxblob`, `provider`,
//!   `generation`, `privlevel` (write-only), `privlevel_floor`; for
//!   `tdx_guest` only `inblob`, `outblob`, `provider` and `generation` are
//!   visible, as the TDX driver shows them. `rmdir NAME` removes it with its
//!   files; `mkdir` inside a report directory is `EPERM`, unknown names are
//!   `ENOENT`, new files cannot be created (`EACCES`) or removed (`EPERM`).
//! * `inblob` is a binary attribute: writes collect up to 64 bytes (more is
//!   `EFBIG`, as configfs answers for a binary attribute's maximum size) and
//!   are committed when the file is closed, which bumps `generation`.
//!   `privlevel` is a text attribute committed on each write: a number
//!   (decimal, `0x` hex or `0` octal, an optional newline) from
//!   `privlevel_floor` to 3, else `EINVAL`; it bumps `generation` too.
//! * Reading `outblob` or `auxblob` calls the backend with the current
//!   inputs unless the report of the current generation is already made: the
//!   same generation reads the same bytes. Reading them before any `inblob`
//!   write is `EINVAL`; a failing backend is `EIO`; a report over 32 KiB is
//!   `EFBIG`. Each open file reads one snapshot, taken at its first read.
//! * Opening a file against its mode (reading `inblob`, writing `outblob`)
//!   is `EACCES`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    BackgroundSession, BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, MountOption, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request,
    TimeOrNow, WriteFlags,
};
use tee_attest_core::Result;

use crate::client::{INBLOB_MAX, PRIVLEVEL_MAX, PROVIDER_TDX_GUEST};
use crate::error::TsmError;

/// The kernel's `TSM_OUTBLOB_MAX`: configfs refuses larger blobs with `EFBIG`.
pub const EMULATED_OUTBLOB_MAX: usize = 32 * 1024;

/// The inputs of one report, as the backend gets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportInput {
    /// The report data written to `inblob`, zero-padded to 64 bytes.
    pub inblob: [u8; INBLOB_MAX],
    /// The privilege level written to `privlevel` (the floor if none was).
    pub privlevel: u32,
}

/// Makes a report (`outblob`) and, optionally, its auxiliary blob
/// (`auxblob`, e.g. an SEV-SNP certificate table) for the inputs.
pub type Backend = Arc<dyn Fn(&ReportInput) -> Result<(Vec<u8>, Option<Vec<u8>>)> + Send + Sync>;

/// A mounted configfs-tsm emulator; unmounted on drop.
///
/// The FUSE session runs on a background thread. Mounting needs `/dev/fuse`
/// and either root (CAP_SYS_ADMIN: `mount(2)` is called directly) or the
/// setuid `fusermount3` of Debian's `fuse3` package.
#[derive(Debug)]
pub struct TsmEmulator {
    session: Option<BackgroundSession>,
    dir: PathBuf,
    provider: String,
}

impl TsmEmulator {
    /// Mounts an emulator answering as `provider` (`sev_guest`, `tdx_guest`)
    /// on the existing directory `dir`, with privilege-level floor 0.
    ///
    /// Error code 1 when FUSE cannot be mounted (with the reason).
    pub fn mount(dir: &Path, provider: &str, backend: Backend) -> Result<TsmEmulator> {
        Self::mount_with_floor(dir, provider, 0, backend)
    }

    /// Like [`TsmEmulator::mount`], with `privlevel_floor` as the lowest
    /// privilege level `privlevel` accepts.
    pub fn mount_with_floor(
        dir: &Path,
        provider: &str,
        privlevel_floor: u32,
        backend: Backend,
    ) -> Result<TsmEmulator> {
        let fail = |reason: String| TsmError::Emulator {
            dir: dir.to_path_buf(),
            reason,
        };
        if provider.is_empty() || provider.contains('\n') {
            return Err(fail(format!("invalid provider name {provider:?}")).into());
        }
        if privlevel_floor > PRIVLEVEL_MAX {
            return Err(fail(format!(
                "privlevel floor {privlevel_floor} is above {PRIVLEVEL_MAX}"
            ))
            .into());
        }
        let meta = fs::metadata(dir).map_err(|e| fail(format!("mount point: {e}")))?;
        if !meta.is_dir() {
            return Err(fail("mount point is not a directory".into()).into());
        }
        let fs = TsmFs {
            provider: provider.to_string(),
            floor: privlevel_floor,
            backend,
            uid: meta.uid(),
            gid: meta.gid(),
            born: SystemTime::now(),
            state: Mutex::new(State {
                next_id: 1,
                next_fh: 1,
                names: BTreeMap::new(),
                reports: HashMap::new(),
                handles: HashMap::new(),
            }),
        };
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            MountOption::FSName("tsm-emulator".into()),
            MountOption::NoDev,
            MountOption::NoSuid,
            MountOption::NoExec,
        ];
        let session = fuser::spawn_mount(fs, dir, &config).map_err(|e| {
            fail(format!(
                "mounting FUSE failed: {e} (needs /dev/fuse, and root or the setuid \
                 fusermount3 of the fuse3 package)"
            ))
        })?;
        Ok(TsmEmulator {
            session: Some(session),
            dir: dir.to_path_buf(),
            provider: provider.to_string(),
        })
    }

    /// The mount point: the emulated report root.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The provider it answers as.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Unmounts and waits for the FUSE thread to end. Fails (code 1) while
    /// the mount is busy (a process has a file or directory there open).
    pub fn unmount(mut self) -> Result<()> {
        match self.session.take() {
            Some(session) => session.umount_and_join().map_err(|e| {
                TsmError::Emulator {
                    dir: self.dir.clone(),
                    reason: format!("unmounting failed: {e}"),
                }
                .into()
            }),
            None => Ok(()),
        }
    }
}

impl Drop for TsmEmulator {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            if session.umount_and_join().is_err() {
                // Busy: detach it lazily so that no stale mount is left.
                let detached = Command::new("fusermount3")
                    .args(["-u", "-z"])
                    .arg(&self.dir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if !detached {
                    let _ = Command::new("umount")
                        .arg("-l")
                        .arg(&self.dir)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
    }
}

/// Attributes of a report directory, in `readdir` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attr {
    Inblob,
    Outblob,
    Auxblob,
    Provider,
    Generation,
    Privlevel,
    PrivlevelFloor,
}

const ATTRS: [Attr; 7] = [
    Attr::Inblob,
    Attr::Outblob,
    Attr::Auxblob,
    Attr::Provider,
    Attr::Generation,
    Attr::Privlevel,
    Attr::PrivlevelFloor,
];

impl Attr {
    fn name(self) -> &'static str {
        match self {
            Attr::Inblob => "inblob",
            Attr::Outblob => "outblob",
            Attr::Auxblob => "auxblob",
            Attr::Provider => "provider",
            Attr::Generation => "generation",
            Attr::Privlevel => "privlevel",
            Attr::PrivlevelFloor => "privlevel_floor",
        }
    }

    /// 1-based, for inode numbers.
    fn index(self) -> u64 {
        match self {
            Attr::Inblob => 1,
            Attr::Outblob => 2,
            Attr::Auxblob => 3,
            Attr::Provider => 4,
            Attr::Generation => 5,
            Attr::Privlevel => 6,
            Attr::PrivlevelFloor => 7,
        }
    }

    fn from_index(i: u64) -> Option<Attr> {
        ATTRS.iter().copied().find(|a| a.index() == i)
    }

    fn writable(self) -> bool {
        matches!(self, Attr::Inblob | Attr::Privlevel)
    }

    fn mode(self) -> u16 {
        if self.writable() {
            0o200
        } else {
            0o444
        }
    }
}

/// Which attributes the provider shows (the TDX driver hides the SEV-SNP
/// ones).
fn visible(provider: &str, attr: Attr) -> bool {
    provider != PROVIDER_TDX_GUEST
        || matches!(
            attr,
            Attr::Inblob | Attr::Outblob | Attr::Provider | Attr::Generation
        )
}

/// What an inode number names. The root is inode 1; report `id` (from 1)
/// is `id << 4`, its attributes `id << 4 | index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Root,
    Dir(u64),
    File(u64, Attr),
}

fn decode(ino: INodeNo) -> Option<Node> {
    let n = ino.0;
    if n == INodeNo::ROOT.0 {
        return Some(Node::Root);
    }
    let id = n >> 4;
    if id == 0 {
        return None;
    }
    match n & 0xf {
        0 => Some(Node::Dir(id)),
        i => Attr::from_index(i).map(|a| Node::File(id, a)),
    }
}

fn dir_ino(id: u64) -> INodeNo {
    INodeNo(id << 4)
}

fn file_ino(id: u64, attr: Attr) -> INodeNo {
    INodeNo((id << 4) | attr.index())
}

/// Nothing is cached by the kernel: every look-up and attribute comes here.
const TTL: Duration = Duration::ZERO;

/// A blob shared by the cache and the open files reading it.
type Blob = Arc<Vec<u8>>;

struct Cached {
    generation: u64,
    outblob: Blob,
    auxblob: Blob,
}

struct Report {
    /// `None` until the first commit of `inblob`.
    inblob: Option<[u8; INBLOB_MAX]>,
    privlevel: u32,
    generation: u64,
    cache: Option<Cached>,
    born: SystemTime,
}

struct Handle {
    report: u64,
    attr: Attr,
    /// `inblob` bytes written through this handle, committed on close.
    pending: Option<Vec<u8>>,
    /// What this handle reads, taken at its first read.
    snapshot: Option<Blob>,
}

struct State {
    next_id: u64,
    next_fh: u64,
    names: BTreeMap<OsString, u64>,
    reports: HashMap<u64, Report>,
    handles: HashMap<u64, Handle>,
}

struct TsmFs {
    provider: String,
    floor: u32,
    backend: Backend,
    uid: u32,
    gid: u32,
    born: SystemTime,
    state: Mutex<State>,
}

impl TsmFs {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic never happens under the lock (the backend's are caught),
        // but if one did, the state is still consistent enough to serve.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn attr(&self, ino: INodeNo, kind: FileType, perm: u16, nlink: u32, t: SystemTime) -> FileAttr {
        FileAttr {
            ino,
            size: if kind == FileType::Directory { 0 } else { 4096 },
            blocks: 0,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    fn node_attr(&self, st: &State, node: Node) -> Result<FileAttr, Errno> {
        match node {
            Node::Root => {
                let links = u32::try_from(st.reports.len()).unwrap_or(u32::MAX);
                Ok(self.attr(
                    INodeNo::ROOT,
                    FileType::Directory,
                    0o755,
                    links.saturating_add(2),
                    self.born,
                ))
            }
            Node::Dir(id) => {
                let r = st.reports.get(&id).ok_or(Errno::ENOENT)?;
                Ok(self.attr(dir_ino(id), FileType::Directory, 0o755, 2, r.born))
            }
            Node::File(id, attr) => {
                let r = st.reports.get(&id).ok_or(Errno::ENOENT)?;
                if !visible(&self.provider, attr) {
                    return Err(Errno::ENOENT);
                }
                Ok(self.attr(
                    file_ino(id, attr),
                    FileType::RegularFile,
                    attr.mode(),
                    1,
                    r.born,
                ))
            }
        }
    }

    /// The report of the current generation, made by the backend if needed.
    fn current(&self, report: &mut Report) -> Result<(Blob, Blob), Errno> {
        let inblob = report.inblob.ok_or(Errno::EINVAL)?;
        if let Some(c) = &report.cache {
            if c.generation == report.generation {
                return Ok((c.outblob.clone(), c.auxblob.clone()));
            }
        }
        let input = ReportInput {
            inblob,
            privlevel: report.privlevel,
        };
        let made = catch_unwind(AssertUnwindSafe(|| (self.backend)(&input)));
        let (out, aux) = match made {
            Ok(Ok(blobs)) => blobs,
            Ok(Err(_)) | Err(_) => return Err(Errno::EIO),
        };
        let cached = Cached {
            generation: report.generation,
            outblob: Arc::new(out),
            auxblob: Arc::new(aux.unwrap_or_default()),
        };
        let blobs = (cached.outblob.clone(), cached.auxblob.clone());
        report.cache = Some(cached);
        Ok(blobs)
    }

    fn fill(&self, report: &mut Report, attr: Attr) -> Result<Blob, Errno> {
        let text = |s: String| Ok(Arc::new(s.into_bytes()));
        match attr {
            Attr::Provider => text(format!("{}\n", self.provider)),
            Attr::Generation => text(format!("{}\n", report.generation)),
            Attr::PrivlevelFloor => text(format!("{}\n", self.floor)),
            Attr::Outblob | Attr::Auxblob => {
                let (out, aux) = self.current(report)?;
                let blob = if attr == Attr::Outblob { out } else { aux };
                if blob.len() > EMULATED_OUTBLOB_MAX {
                    return Err(Errno::EFBIG);
                }
                Ok(blob)
            }
            Attr::Inblob | Attr::Privlevel => Err(Errno::EACCES),
        }
    }

    fn read_handle(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let handle = st.handles.get(&fh).ok_or(Errno::EBADF)?;
        let (id, attr) = (handle.report, handle.attr);
        let data = match &handle.snapshot {
            Some(d) => d.clone(),
            None => {
                let report = st.reports.get_mut(&id).ok_or(Errno::ENOENT)?;
                let d = self.fill(report, attr)?;
                if let Some(h) = st.handles.get_mut(&fh) {
                    h.snapshot = Some(d.clone());
                }
                d
            }
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let len = usize::try_from(size).unwrap_or(usize::MAX);
        let end = start.saturating_add(len).min(data.len());
        Ok(data.get(start..end).map(<[u8]>::to_vec).unwrap_or_default())
    }

    fn write_handle(&self, fh: u64, offset: u64, data: &[u8]) -> Result<u32, Errno> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let handle = st.handles.get_mut(&fh).ok_or(Errno::EBADF)?;
        if !st.reports.contains_key(&handle.report) {
            return Err(Errno::ENOENT);
        }
        let written = u32::try_from(data.len()).map_err(|_| Errno::EFBIG)?;
        match handle.attr {
            Attr::Inblob => {
                let start = usize::try_from(offset).map_err(|_| Errno::EFBIG)?;
                let end = start.checked_add(data.len()).ok_or(Errno::EFBIG)?;
                if end > INBLOB_MAX {
                    return Err(Errno::EFBIG);
                }
                let buf = handle.pending.get_or_insert_with(Vec::new);
                if buf.len() < end {
                    buf.resize(end, 0);
                }
                buf[start..end].copy_from_slice(data);
                Ok(written)
            }
            Attr::Privlevel => {
                let level = parse_kernel_uint(data)?;
                if level < self.floor || level > PRIVLEVEL_MAX {
                    return Err(Errno::EINVAL);
                }
                let report = st.reports.get_mut(&handle.report).ok_or(Errno::ENOENT)?;
                report.privlevel = level;
                report.generation = report.generation.saturating_add(1);
                Ok(written)
            }
            _ => Err(Errno::EBADF),
        }
    }

    /// Commits the `inblob` bytes written through `fh`, as configfs does when
    /// a binary attribute is closed.
    fn commit(&self, fh: u64) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(handle) = st.handles.get_mut(&fh) else {
            return;
        };
        let Some(buf) = handle.pending.take() else {
            return;
        };
        if let Some(report) = st.reports.get_mut(&handle.report) {
            let mut inblob = [0u8; INBLOB_MAX];
            let n = buf.len().min(INBLOB_MAX);
            inblob[..n].copy_from_slice(&buf[..n]);
            report.inblob = Some(inblob);
            report.generation = report.generation.saturating_add(1);
        }
    }
}

/// `kstrtouint(buf, 0, …)`: decimal, `0x` hex or `0` octal, an optional `+`
/// and one trailing newline.
fn parse_kernel_uint(bytes: &[u8]) -> Result<u32, Errno> {
    let s = std::str::from_utf8(bytes).map_err(|_| Errno::EINVAL)?;
    let s = s.strip_suffix('\n').unwrap_or(s);
    let s = s.strip_prefix('+').unwrap_or(s);
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(Errno::EINVAL);
    }
    u32::from_str_radix(digits, radix).map_err(|_| Errno::ERANGE)
}

impl Filesystem for TsmFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let st = self.lock();
        let node = match decode(parent) {
            Some(Node::Root) => st.names.get(name).map(|id| Node::Dir(*id)),
            Some(Node::Dir(id)) if st.reports.contains_key(&id) => ATTRS
                .iter()
                .find(|a| OsStr::new(a.name()) == name && visible(&self.provider, **a))
                .map(|a| Node::File(id, *a)),
            Some(Node::File(..)) => {
                reply.error(Errno::ENOTDIR);
                return;
            }
            _ => None,
        };
        match node.map(|n| self.node_attr(&st, n)) {
            Some(Ok(attr)) => reply.entry(&TTL, &attr, Generation(0)),
            Some(Err(e)) => reply.error(e),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let st = self.lock();
        match decode(ino).map(|n| self.node_attr(&st, n)) {
            Some(Ok(attr)) => reply.attr(&TTL, &attr),
            Some(Err(e)) => reply.error(e),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        // Truncation (O_TRUNC) and the like change nothing, as on configfs.
        let st = self.lock();
        match decode(ino).map(|n| self.node_attr(&st, n)) {
            Some(Ok(attr)) => reply.attr(&TTL, &attr),
            Some(Err(e)) => reply.error(e),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut st = self.lock();
        match decode(parent) {
            Some(Node::Root) => {
                if st.names.contains_key(name) {
                    reply.error(Errno::EEXIST);
                    return;
                }
                let id = st.next_id;
                st.next_id += 1;
                st.names.insert(name.to_os_string(), id);
                st.reports.insert(
                    id,
                    Report {
                        inblob: None,
                        privlevel: self.floor,
                        generation: 0,
                        cache: None,
                        born: SystemTime::now(),
                    },
                );
                match self.node_attr(&st, Node::Dir(id)) {
                    Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
                    Err(e) => reply.error(e),
                }
            }
            // A report is an item, not a group: nothing can be made in it.
            Some(Node::Dir(id)) if st.reports.contains_key(&id) => reply.error(Errno::EPERM),
            Some(Node::File(..)) => reply.error(Errno::ENOTDIR),
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.lock();
        match decode(parent) {
            Some(Node::Root) => match st.names.remove(name) {
                Some(id) => {
                    st.reports.remove(&id);
                    reply.ok();
                }
                None => reply.error(Errno::ENOENT),
            },
            Some(Node::Dir(id)) if st.reports.contains_key(&id) => {
                if ATTRS.iter().any(|a| OsStr::new(a.name()) == name) {
                    reply.error(Errno::ENOTDIR);
                } else {
                    reply.error(Errno::ENOENT);
                }
            }
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let st = self.lock();
        match decode(parent) {
            Some(Node::Root) if st.names.contains_key(name) => reply.error(Errno::EISDIR),
            Some(Node::Dir(id))
                if st.reports.contains_key(&id)
                    && ATTRS
                        .iter()
                        .any(|a| OsStr::new(a.name()) == name && visible(&self.provider, *a)) =>
            {
                reply.error(Errno::EPERM)
            }
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EACCES);
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EACCES);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EPERM);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut st = self.lock();
        let (id, attr) = match decode(ino) {
            Some(Node::File(id, attr))
                if st.reports.contains_key(&id) && visible(&self.provider, attr) =>
            {
                (id, attr)
            }
            Some(Node::Root | Node::Dir(_)) => {
                reply.error(Errno::EISDIR);
                return;
            }
            _ => {
                reply.error(Errno::ENOENT);
                return;
            }
        };
        let allowed = match flags.acc_mode() {
            OpenAccMode::O_RDONLY => !attr.writable(),
            OpenAccMode::O_WRONLY => attr.writable(),
            OpenAccMode::O_RDWR => false,
        };
        if !allowed {
            reply.error(Errno::EACCES);
            return;
        }
        let fh = st.next_fh;
        st.next_fh += 1;
        st.handles.insert(
            fh,
            Handle {
                report: id,
                attr,
                pending: None,
                snapshot: None,
            },
        );
        // Direct I/O: reads are not limited by the (nominal) file size and
        // nothing is served from the page cache.
        reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO);
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.read_handle(fh.0, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.write_handle(fh.0, offset, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) sends FLUSH and waits for it (RELEASE comes later, without
        // waiting): committing here makes the write visible when close returns.
        self.commit(fh.0);
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.commit(fh.0);
        self.lock().handles.remove(&fh.0);
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let st = self.lock();
        let mut entries: Vec<(INodeNo, FileType, OsString)> = vec![
            (ino, FileType::Directory, ".".into()),
            (INodeNo::ROOT, FileType::Directory, "..".into()),
        ];
        match decode(ino) {
            Some(Node::Root) => {
                for (name, id) in &st.names {
                    entries.push((dir_ino(*id), FileType::Directory, name.clone()));
                }
            }
            Some(Node::Dir(id)) if st.reports.contains_key(&id) => {
                for a in ATTRS.iter().filter(|a| visible(&self.provider, **a)) {
                    entries.push((file_ino(id, *a), FileType::RegularFile, a.name().into()));
                }
            }
            Some(Node::File(..)) => {
                reply.error(Errno::ENOTDIR);
                return;
            }
            _ => {
                reply.error(Errno::ENOENT);
                return;
            }
        }
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(skip) {
            let next = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1);
            if reply.add(*ino, next, *kind, name) {
                break;
            }
        }
        reply.ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_uint_parsing() {
        assert_eq!(parse_kernel_uint(b"2"), Ok(2));
        assert_eq!(parse_kernel_uint(b"2\n"), Ok(2));
        assert_eq!(parse_kernel_uint(b"+3\n"), Ok(3));
        assert_eq!(parse_kernel_uint(b"0x3"), Ok(3));
        assert_eq!(parse_kernel_uint(b"03"), Ok(3));
        assert_eq!(parse_kernel_uint(b"0"), Ok(0));
        assert_eq!(parse_kernel_uint(b""), Err(Errno::EINVAL));
        assert_eq!(parse_kernel_uint(b"\n"), Err(Errno::EINVAL));
        assert_eq!(parse_kernel_uint(b"-1"), Err(Errno::EINVAL));
        assert_eq!(parse_kernel_uint(b"2\n\n"), Err(Errno::EINVAL));
        assert_eq!(parse_kernel_uint(b"09"), Err(Errno::EINVAL));
        assert_eq!(parse_kernel_uint(b"99999999999"), Err(Errno::ERANGE));
    }

    #[test]
    fn inode_numbers_round_trip() {
        assert_eq!(decode(INodeNo::ROOT), Some(Node::Root));
        for id in [1u64, 2, 77] {
            assert_eq!(decode(dir_ino(id)), Some(Node::Dir(id)));
            for a in ATTRS {
                assert_eq!(decode(file_ino(id, a)), Some(Node::File(id, a)));
            }
        }
        assert_eq!(decode(INodeNo(2)), None);
        assert_eq!(decode(INodeNo(0x1f)), None);
    }

    #[test]
    fn tdx_hides_the_snp_attributes() {
        let shown: Vec<_> = ATTRS
            .iter()
            .filter(|a| visible(PROVIDER_TDX_GUEST, **a))
            .map(|a| a.name())
            .collect();
        assert_eq!(shown, ["inblob", "outblob", "provider", "generation"]);
        assert!(ATTRS.iter().all(|a| visible("sev_guest", *a)));
    }
}
