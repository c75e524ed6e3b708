//! Tests of the boundary: what C can get wrong, and what must never happen.
//! None needs a TPM: an `azure-snp` client is built without touching one,
//! and every case fails before evidence is gathered.

use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::Mutex;

use super::*;

const BAD_UTF8: &[u8] = b"\xff\xfe\0";

fn desc(r: &TeeAttestResult) -> String {
    assert!(!r.description.is_null());
    // SAFETY: descriptions are NUL-terminated and valid until the next call
    // on this thread.
    unsafe { CStr::from_ptr(r.description) }
        .to_str()
        .unwrap()
        .to_string()
}

fn config(tee: &CStr) -> TeeAttestConfig {
    TeeAttestConfig {
        version: 1,
        tee: tee.as_ptr(),
        // Nothing listens here: no test reaches the TPM or IMDS.
        tcti: c"swtpm:host=127.0.0.1,port=1".as_ptr(),
        imds_url: c"http://127.0.0.1:1".as_ptr(),
        event_log: null(),
        data_dir: null(),
        issuer: null(),
        policy: null(),
        trust_mock: 0,
        log_level: TEE_ATTEST_LOG_DEBUG,
    }
}

unsafe extern "C" fn collect(user_data: *mut c_void, level: u32, message: *const c_char) {
    // SAFETY: the tests pass a `Mutex<Vec<…>>` as user data; the message is
    // valid during the callback.
    let (log, msg) = unsafe {
        (
            &*(user_data as *const Mutex<Vec<(u32, String)>>),
            CStr::from_ptr(message).to_string_lossy().into_owned(),
        )
    };
    log.lock().unwrap().push((level, msg));
}

struct Client {
    ptr: *mut TeeAttestClient,
    log: Box<Mutex<Vec<(u32, String)>>>,
}

impl Drop for Client {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `tee_attest_init` and is used once more.
        unsafe { tee_attest_uninit(self.ptr) }
    }
}

fn client() -> Client {
    let log: Box<Mutex<Vec<(u32, String)>>> = Box::default();
    let cfg = config(c"azure-snp");
    let mut ptr = null_mut();
    // SAFETY: valid config, callback, user data and out pointer.
    let r = unsafe {
        tee_attest_init(
            &cfg,
            Some(collect),
            &*log as *const _ as *mut c_void,
            &mut ptr,
        )
    };
    assert_eq!(r.code, 0, "{}", desc(&r));
    assert_eq!(desc(&r), "");
    assert!(!ptr.is_null());
    Client { ptr, log }
}

fn attest(
    c: *mut TeeAttestClient,
    params: &TeeAttestClientParameters,
) -> (TeeAttestResult, *mut u8, usize) {
    let (mut jwt, mut len) = (std::ptr::dangling_mut::<u8>(), 99usize);
    // SAFETY: valid pointers.
    let r = unsafe { tee_attest_attest(c, params, &mut jwt, &mut len) };
    (r, jwt, len)
}

fn params(endpoint: *const c_char, payload: *const c_char) -> TeeAttestClientParameters {
    TeeAttestClientParameters {
        version: 1,
        endpoint,
        client_payload: payload,
    }
}

#[test]
fn init_logs_and_uninit() {
    let c = client();
    let log = c.log.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|(l, m)| *l == TEE_ATTEST_LOG_INFO && m.contains("TEE azure-snp")),
        "{log:?}"
    );
}

#[test]
fn init_refuses_bad_arguments() {
    let cfg = config(c"azure-snp");
    // SAFETY: a NULL out pointer is what is tested.
    let r = unsafe { tee_attest_init(&cfg, None, null_mut(), null_mut()) };
    assert_eq!(r.code, 8);
    assert!(desc(&r).contains("client"), "{}", desc(&r));

    let mut ptr = std::ptr::dangling_mut::<TeeAttestClient>();
    let bad_version = TeeAttestConfig { version: 7, ..cfg };
    // SAFETY: valid pointers.
    let r = unsafe { tee_attest_init(&bad_version, None, null_mut(), &mut ptr) };
    assert_eq!(r.code, 8);
    assert!(ptr.is_null(), "out pointer reset on failure");

    let bad_utf8 = TeeAttestConfig {
        tee: BAD_UTF8.as_ptr().cast(),
        ..cfg
    };
    // SAFETY: valid pointers; the string is NUL-terminated.
    let r = unsafe { tee_attest_init(&bad_utf8, None, null_mut(), &mut ptr) };
    assert_eq!(r.code, 8);
    assert!(desc(&r).contains("config.tee is not UTF-8"), "{}", desc(&r));
    assert!(ptr.is_null());

    let unknown = config(c"nonsense");
    // SAFETY: valid pointers.
    let r = unsafe { tee_attest_init(&unknown, None, null_mut(), &mut ptr) };
    assert_eq!(r.code, 1);
    assert!(desc(&r).contains("unknown TEE"), "{}", desc(&r));
    assert!(ptr.is_null());
}

#[test]
fn attest_refuses_null_pointers() {
    let c = client();
    let p = params(c"".as_ptr(), c"{}".as_ptr());
    let (r, jwt, len) = attest(null_mut(), &p);
    assert_eq!((r.code, jwt, len), (8, null_mut(), 0));
    assert!(desc(&r).contains("client is NULL"));

    let (mut jwt, mut len) = (null_mut(), 0);
    // SAFETY: NULL params is what is tested.
    let r = unsafe { tee_attest_attest(c.ptr, null(), &mut jwt, &mut len) };
    assert_eq!(r.code, 8);
    assert!(desc(&r).contains("params is NULL"));

    let mut len = 5;
    // SAFETY: NULL jwt is what is tested; `len` is writable.
    let r = unsafe { tee_attest_attest(c.ptr, &p, null_mut(), &mut len) };
    assert_eq!((r.code, len), (8, 0));
    let mut jwt = std::ptr::dangling_mut::<u8>();
    // SAFETY: NULL jwt_len is what is tested; `jwt` is writable.
    let r = unsafe { tee_attest_attest(c.ptr, &p, &mut jwt, null_mut()) };
    assert_eq!((r.code, jwt), (8, null_mut()));
}

#[test]
fn attest_refuses_bad_parameters() {
    let c = client();
    let cases: &[(TeeAttestClientParameters, &str)] = &[
        (params(null(), c"not json".as_ptr()), "not JSON"),
        (params(null(), c"[1]".as_ptr()), "JSON object of strings"),
        (
            params(null(), c"{\"Nonce\": 5}".as_ptr()),
            "must be a string",
        ),
        (
            params(null(), BAD_UTF8.as_ptr().cast()),
            "client_payload is not UTF-8",
        ),
        (
            params(BAD_UTF8.as_ptr().cast(), null()),
            "endpoint is not UTF-8",
        ),
        (
            TeeAttestClientParameters {
                version: 0,
                ..params(null(), null())
            },
            "version 0",
        ),
        (
            TeeAttestClientParameters {
                version: 2,
                ..params(null(), null())
            },
            "version 2",
        ),
    ];
    for (p, expected) in cases {
        let (r, jwt, len) = attest(c.ptr, p);
        assert_eq!((r.code, jwt, len), (8, null_mut(), 0), "{expected}");
        assert!(desc(&r).contains(expected), "{expected}: {}", desc(&r));
    }
}

#[test]
fn an_endpoint_goes_to_maa_which_needs_the_vtpm() {
    // MAA seals its answer to the vTPM's key: with no vTPM reachable the
    // call fails before any request, with a TPM code, and logs the error.
    let c = client();
    let p = params(c"https://sharedeus.eus.attest.azure.net".as_ptr(), null());
    let (r, jwt, len) = attest(c.ptr, &p);
    assert!(matches!(r.code, 12 | 13), "{}: {}", r.code, desc(&r));
    assert_eq!((jwt, len), (null_mut(), 0));
    let log = c.log.lock().unwrap().clone();
    assert!(
        log.iter().any(|(l, _)| *l == TEE_ATTEST_LOG_ERROR),
        "{log:?}"
    );
}

struct EncOut {
    r: TeeAttestResult,
    enc: *mut u8,
    enc_len: usize,
    meta: *mut u8,
    meta_len: usize,
}

fn encrypt(
    c: *mut TeeAttestClient,
    ty: u32,
    jwt: *const u8,
    jwt_len: usize,
    data: *const u8,
    len: usize,
) -> EncOut {
    let mut o = EncOut {
        r: success(),
        enc: std::ptr::dangling_mut::<u8>(),
        enc_len: 3,
        meta: std::ptr::dangling_mut::<u8>(),
        meta_len: 3,
    };
    // SAFETY: the out pointers are valid; the inputs are what is tested.
    o.r = unsafe {
        tee_attest_encrypt(
            c,
            ty,
            jwt,
            jwt_len,
            data,
            len,
            &mut o.enc,
            &mut o.enc_len,
            &mut o.meta,
            &mut o.meta_len,
        )
    };
    o
}

fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn encrypt_refuses_bad_input() {
    let c = client();
    let data = b"secret";
    let jwt = b"a.b.c";
    let cases: &[(u32, *const u8, usize, *const u8, usize, u32, &str)] = &[
        (0, null(), 5, data.as_ptr(), 6, 8, "jwt is NULL"),
        (0, jwt.as_ptr(), 0, data.as_ptr(), 6, 8, "jwt is empty"),
        (0, jwt.as_ptr(), 5, null(), 6, 8, "data is NULL"),
        (
            0,
            jwt.as_ptr(),
            usize::MAX,
            data.as_ptr(),
            6,
            8,
            "too large",
        ),
        (
            99,
            jwt.as_ptr(),
            5,
            data.as_ptr(),
            6,
            8,
            "unknown encryption type 99",
        ),
        (
            0,
            BAD_UTF8.as_ptr(),
            2,
            data.as_ptr(),
            6,
            8,
            "jwt is not UTF-8",
        ),
        (0, jwt.as_ptr(), 5, data.as_ptr(), 6, 22, "JWT"),
    ];
    for &(ty, j, jl, d, dl, code, expected) in cases {
        let o = encrypt(c.ptr, ty, j, jl, d, dl);
        assert_eq!(o.r.code, code, "{expected}: {}", desc(&o.r));
        assert!(desc(&o.r).contains(expected), "{expected}: {}", desc(&o.r));
        assert_eq!(
            (o.enc, o.enc_len, o.meta, o.meta_len),
            (null_mut(), 0, null_mut(), 0)
        );
    }
    // A well-formed token without the ephemeral key: 22.
    let token = format!(
        "{}.{}.sig",
        b64url(br#"{"alg":"RS256"}"#),
        b64url(br#"{"x-ms-runtime":{"keys":[]}}"#)
    );
    for ty in 0..=4 {
        let o = encrypt(c.ptr, ty, token.as_ptr(), token.len(), data.as_ptr(), 6);
        assert_eq!(o.r.code, 22, "type {ty}: {}", desc(&o.r));
    }
    // A length that counts the NUL terminator is the same token.
    let with_nul = format!("{token}\0");
    let o = encrypt(
        c.ptr,
        0,
        with_nul.as_ptr(),
        with_nul.len(),
        data.as_ptr(),
        6,
    );
    assert_eq!(o.r.code, 22, "{}", desc(&o.r));
    let o = encrypt(null_mut(), 0, token.as_ptr(), token.len(), data.as_ptr(), 6);
    assert_eq!(o.r.code, 8);
    // SAFETY: NULL out pointers are what is tested.
    let r = unsafe {
        tee_attest_encrypt(
            c.ptr,
            0,
            token.as_ptr(),
            token.len(),
            data.as_ptr(),
            6,
            null_mut(),
            null_mut(),
            null_mut(),
            null_mut(),
        )
    };
    assert_eq!(r.code, 8);
}

#[test]
fn decrypt_refuses_bad_input() {
    let c = client();
    let data = [1u8; 256];
    let (mut out, mut out_len) = (std::ptr::dangling_mut::<u8>(), 7usize);
    let cases: &[(u32, *const u8, usize, *const u8, usize, &str)] = &[
        (0, data.as_ptr(), 0, null(), 0, "encrypted_data is empty"),
        (0, null(), 256, null(), 0, "encrypted_data is NULL"),
        (
            0,
            data.as_ptr(),
            256,
            null(),
            3,
            "encryption_metadata is NULL",
        ),
        (
            5,
            data.as_ptr(),
            256,
            null(),
            0,
            "unknown encryption type 5",
        ),
    ];
    for &(ty, d, dl, m, ml, expected) in cases {
        // SAFETY: valid out pointers; inputs are what is tested.
        let r = unsafe { tee_attest_decrypt(c.ptr, ty, d, dl, m, ml, &mut out, &mut out_len) };
        assert_eq!(r.code, 8, "{expected}: {}", desc(&r));
        assert!(desc(&r).contains(expected), "{expected}: {}", desc(&r));
        assert_eq!((out, out_len), (null_mut(), 0));
    }
    // SAFETY: NULL client and NULL out pointer are what is tested.
    let r = unsafe {
        tee_attest_decrypt(
            null_mut(),
            0,
            data.as_ptr(),
            256,
            null(),
            0,
            &mut out,
            &mut out_len,
        )
    };
    assert_eq!(r.code, 8);
    // SAFETY: as above.
    let r = unsafe {
        tee_attest_decrypt(
            c.ptr,
            0,
            data.as_ptr(),
            256,
            null(),
            0,
            null_mut(),
            &mut out_len,
        )
    };
    assert_eq!(r.code, 8);
}

#[test]
fn no_panic_escapes() {
    let r = guard(|| panic!("boom"));
    assert_eq!(r.code, 1);
    assert!(desc(&r).starts_with("internal error"));
    // The library still works afterwards on this thread.
    let r = guard(|| Err(invalid("after")));
    assert_eq!((r.code, desc(&r).as_str()), (8, "after"));
}

#[test]
fn a_panic_while_a_client_is_locked_does_not_poison_it() {
    let c = client();
    // SAFETY: `c.ptr` is live.
    let client = unsafe { client_ref(c.ptr) }.unwrap();
    let r = guard(|| with_client(client, |_| -> Result<()> { panic!("inside") }));
    assert_eq!(r.code, 1);
    let p = params(null(), c"nope".as_ptr());
    let (r, _, _) = attest(c.ptr, &p);
    assert_eq!(r.code, 8, "{}", desc(&r));
}

#[test]
fn free_and_uninit_of_null_are_no_ops() {
    // SAFETY: NULL is allowed.
    unsafe {
        tee_attest_free(null_mut());
        tee_attest_uninit(null_mut());
    }
}

#[test]
fn descriptions_are_per_thread_and_last_until_the_next_call() {
    let r1 = guard(|| Err(invalid("first")));
    let d1 = desc(&r1);
    let other = std::thread::spawn(|| desc(&guard(|| Err(invalid("other thread")))))
        .join()
        .unwrap();
    assert_eq!(other, "other thread");
    assert_eq!(desc(&r1), d1, "another thread's call leaves ours alone");
    let r2 = guard(|| Ok(()));
    assert_eq!((r2.code, desc(&r2).as_str()), (0, ""));
}

#[test]
fn encryption_types_map_to_the_broker() {
    assert_eq!(
        encryption_kind(TEE_ATTEST_ENCRYPTION_NONE).unwrap(),
        EncryptionType::None(RsaScheme::Pkcs1v15),
        "the C ABI keeps Microsoft's default"
    );
    assert_eq!(
        encryption_kind(TEE_ATTEST_ENCRYPTION_ENVELOPE).unwrap(),
        EncryptionType::Envelope
    );
    assert_eq!(
        encryption_kind(5).unwrap_err().code(),
        ErrorCode::InvalidInputParameter
    );
}

#[test]
fn one_client_from_several_threads_and_several_clients_at_once() {
    struct Shared(*mut TeeAttestClient);
    // SAFETY: the client is documented as usable from any thread; calls on
    // it are serialised by its mutex.
    unsafe impl Sync for Shared {}
    let c = client();
    let other = client();
    let shared = [Shared(c.ptr), Shared(other.ptr)];
    std::thread::scope(|s| {
        for i in 0..4 {
            let shared = &shared;
            s.spawn(move || {
                for _ in 0..20 {
                    // Through the client's state: MAA needs the (absent) vTPM.
                    let p = params(c"https://maa.example".as_ptr(), null());
                    let (r, jwt, _) = attest(shared[i % 2].0, &p);
                    assert!(matches!(r.code, 12 | 13), "{}", desc(&r));
                    assert!(jwt.is_null());
                }
            });
        }
    });
}
