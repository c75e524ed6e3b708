//! A TPM command proxy in front of swtpm that plays the Azure HCL: when the
//! guest writes user data to NV `0x01400002`, the proxy lets the write
//! through, regenerates the HCL report ([`MockHcl`]: SEV-SNP or TDX),
//! writes it to NV `0x01400001` on the
//! same upstream connection, and only then answers the guest — so the next
//! read sees a fresh report, as on a real CVM, and no provider code knows
//! it talks to a mock.
//!
//! It listens on two consecutive loopback ports (command, control), as
//! libtss2's swtpm TCTI expects; the control channel is piped unchanged.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tee_attest_tpm::handles::{HCL_REPORT_NV_INDEX, HCL_USER_DATA_NV_INDEX, HCL_USER_DATA_SIZE};

use crate::hcl::MockHcl;
use crate::swtpm::bind_pair;
use crate::MockError;

const TPM_CC_NV_WRITE: u32 = 0x0000_0137;
const TPM_ST_SESSIONS: u16 = 0x8002;
const TPM_RH_OWNER: u32 = 0x4000_0001;
const TPM_RS_PW: u32 = 0x4000_0009;
/// Largest command or response accepted (TPM2 max is 4096; be generous).
const MAX_MESSAGE: usize = 64 * 1024;
/// Chunk for the proxy's own NV writes (swtpm's NV buffer max is 1024).
const NV_CHUNK: usize = 1024;

/// The running proxy; stops accepting when dropped.
#[derive(Debug)]
pub struct HclProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

struct State {
    hcl: MockHcl,
    user_data: [u8; HCL_USER_DATA_SIZE],
}

fn read_message(s: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 10];
    match s.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let size = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    if !(10..=MAX_MESSAGE).contains(&size) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("TPM message size {size}"),
        ));
    }
    let mut msg = header.to_vec();
    msg.resize(size, 0);
    s.read_exact(&mut msg[10..])?;
    Ok(Some(msg))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

/// If `cmd` is a TPM2_NV_Write to the user-data index: its data and offset.
fn user_data_write(cmd: &[u8]) -> Option<(Vec<u8>, usize)> {
    if u32_at(cmd, 6)? != TPM_CC_NV_WRITE || u32_at(cmd, 14)? != HCL_USER_DATA_NV_INDEX {
        return None;
    }
    // handles end at 18; sessions: authorizationSize then the area.
    let mut off = 18;
    if u16_at(cmd, 0)? == TPM_ST_SESSIONS {
        off += 4 + u32_at(cmd, 18)? as usize;
    }
    let len = u16_at(cmd, off)? as usize;
    let data = cmd.get(off + 2..off + 2 + len)?.to_vec();
    let offset = u16_at(cmd, off + 2 + len)? as usize;
    Some((data, offset))
}

/// TPM2_NV_Write(owner, index, data, offset) with a password session.
fn nv_write_command(index: u32, data: &[u8], offset: u16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(TPM_RH_OWNER.to_be_bytes());
    body.extend(index.to_be_bytes());
    // Authorization area: TPM_RS_PW, empty nonce, attributes 0, empty password.
    let auth = [TPM_RS_PW.to_be_bytes().as_slice(), &[0, 0], &[0], &[0, 0]].concat();
    body.extend((auth.len() as u32).to_be_bytes());
    body.extend(auth);
    body.extend((data.len() as u16).to_be_bytes());
    body.extend(data);
    body.extend(offset.to_be_bytes());
    let mut cmd = TPM_ST_SESSIONS.to_be_bytes().to_vec();
    cmd.extend(((10 + body.len()) as u32).to_be_bytes());
    cmd.extend(TPM_CC_NV_WRITE.to_be_bytes());
    cmd.extend(body);
    cmd
}

fn refresh_report(state: &Mutex<State>, upstream: &mut TcpStream) -> std::io::Result<()> {
    let report = {
        let st = state
            .lock()
            .map_err(|_| std::io::Error::other("mock HCL state poisoned"))?;
        st.hcl
            .report(&st.user_data)
            .map_err(std::io::Error::other)?
    };
    for (i, chunk) in report.chunks(NV_CHUNK).enumerate() {
        upstream.write_all(&nv_write_command(
            HCL_REPORT_NV_INDEX,
            chunk,
            (i * NV_CHUNK) as u16,
        ))?;
        let resp = read_message(upstream)?.ok_or_else(|| std::io::Error::other("swtpm closed"))?;
        let rc = u32_at(&resp, 6).unwrap_or(u32::MAX);
        if rc != 0 {
            return Err(std::io::Error::other(format!(
                "writing the HCL report: TPM rc {rc:#x}"
            )));
        }
    }
    Ok(())
}

fn serve_command(
    mut client: TcpStream,
    upstream_port: u16,
    state: Arc<Mutex<State>>,
) -> std::io::Result<()> {
    let mut upstream = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream_port))?;
    while let Some(cmd) = read_message(&mut client)? {
        upstream.write_all(&cmd)?;
        let resp =
            read_message(&mut upstream)?.ok_or_else(|| std::io::Error::other("swtpm closed"))?;
        if let (Some((data, offset)), Some(0)) = (user_data_write(&cmd), u32_at(&resp, 6)) {
            if let Ok(mut st) = state.lock() {
                let end = (offset + data.len()).min(HCL_USER_DATA_SIZE);
                if offset < end {
                    st.user_data[offset..end].copy_from_slice(&data[..end - offset]);
                }
            }
            refresh_report(&state, &mut upstream)?;
        }
        client.write_all(&resp)?;
    }
    Ok(())
}

fn pipe(mut client: TcpStream, upstream_port: u16) -> std::io::Result<()> {
    let mut upstream = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream_port))?;
    let mut c2 = client.try_clone()?;
    let mut u2 = upstream.try_clone()?;
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut u2, &mut c2);
        let _ = c2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut client, &mut upstream);
    let _ = upstream.shutdown(Shutdown::Write);
    let _ = t.join();
    Ok(())
}

fn accept_loop<F>(listener: TcpListener, stop: Arc<AtomicBool>, handle: F) -> JoinHandle<()>
where
    F: Fn(TcpStream) + Send + 'static,
{
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if let Ok(c) = conn {
                handle(c);
            }
        }
    })
}

impl HclProxy {
    /// Start a proxy for the swtpm whose command port is `swtpm_port`
    /// (control at `swtpm_port + 1`), first writing the initial report
    /// (all-zero user data) through it.
    pub fn start(swtpm_port: u16, hcl: MockHcl) -> Result<Self, MockError> {
        let spawn_err = |source| MockError::Spawn {
            hint: "starting the mock HCL proxy",
            source,
        };
        let (cmd, ctrl) = bind_pair().map_err(spawn_err)?;
        let port = cmd.local_addr().map_err(spawn_err)?.port();
        let state = Arc::new(Mutex::new(State {
            hcl,
            user_data: [0; HCL_USER_DATA_SIZE],
        }));
        let mut upstream =
            TcpStream::connect((Ipv4Addr::LOCALHOST, swtpm_port)).map_err(spawn_err)?;
        refresh_report(&state, &mut upstream).map_err(spawn_err)?;
        drop(upstream);
        let stop = Arc::new(AtomicBool::new(false));
        let st = state.clone();
        let t1 = accept_loop(cmd, stop.clone(), move |c| {
            let st = st.clone();
            std::thread::spawn(move || {
                if let Err(e) = serve_command(c, swtpm_port, st) {
                    tracing::debug!("mock HCL proxy connection ended: {e}");
                }
            });
        });
        let t2 = accept_loop(ctrl, stop.clone(), move |c| {
            std::thread::spawn(move || {
                let _ = pipe(c, swtpm_port + 1);
            });
        });
        Ok(Self {
            port,
            stop,
            threads: vec![t1, t2],
        })
    }

    /// The TCTI configuration that reaches the proxied vTPM.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    /// The proxy's command port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for HclProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loops so they see the flag.
        for port in [self.port, self.port + 1] {
            let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, port));
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
