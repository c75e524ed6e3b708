//! Encrypt/Decrypt, each next to raw AES-256-GCM (aws-lc-rs) in the same run:
//!
//! - `envelope_encrypt/{raw-aes256gcm,raw-aes256gcm-new-buffer,envelope,
//!   envelope-aes-path}/SIZE`: raw = one `seal_in_place` over the whole
//!   buffer (no allocation, no copy); raw-new-buffer = copy into a fresh
//!   Vec and seal (raw AES-GCM behind an API returning a new buffer);
//!   `envelope` =
//!   the whole `encrypt` (fresh key, RSA-OAEP-SHA256 wrap with the `rsa`
//!   crate, chunked GCM into a new buffer);
//!   `envelope-aes-path` = the same with the encryptor (key + wrap) set up
//!   outside the timing.
//! - `envelope_decrypt/{raw-aes256gcm,raw-aes256gcm-new-buffer,
//!   envelope-aes-path,zeroize-on-drop}/SIZE`: the key
//!   already unwrapped (by an in-bench software decryptor: bench only), so
//!   the AES path is measured; `envelope_decrypt/unwrap-soft-rsa` for the
//!   software unwrap, `tpm_decrypt/*` for the unwrap in swtpm.
//! - `envelope_stream/*/{1MiB,64MiB}`: one chunk of memory, into
//!   `io::sink()`, next to `raw-aes256gcm-seal` and `raw-aes256gcm-open`
//!   (in place, whole buffer) in the same group: `{encrypt,decrypt}-to` from
//!   data in memory (`encrypt_to`/`decrypt_to`: each chunk sealed or opened
//!   straight from the slice), `{encrypt,decrypt}-stream` from a `Read`
//!   (`encrypt_stream`/`decrypt_stream`: each chunk copied in first).
//!
//! Peak memory: `ENCRYPT_BENCH_RSS=stream|memory cargo bench -p
//! tee-attest-benches --bench encrypt` runs only a 64 MiB encrypt + decrypt
//! (streamed from a generator into a hashing sink, or in memory) and prints
//! the process's VmHWM.
//!
//! Figures: docs/PERFORMANCE.md. Run: `cargo bench -p tee-attest-benches
//! --bench encrypt -- --warm-up-time 1 --measurement-time 3`.

#![allow(missing_docs)]

use std::hint::black_box;
use std::io::{Read, Write};

use async_trait::async_trait;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use tee_attest_broker::{
    EncryptionType, EnvelopeDecryptor, EnvelopeEncryptor, RecipientKey, RsaScheme,
};
use tee_attest_core::{Decryptor, Error, ErrorCode, RsaDecryptScheme};
use zeroize::Zeroizing;

const TEST_KEY: &str = include_str!("../crates/broker/tests/data/test-rsa2048.pem");

/// Bench only: the private key in memory. Library code never does this.
struct SoftDecryptor(rsa::RsaPrivateKey);

#[async_trait]
impl Decryptor for SoftDecryptor {
    fn public_jwk(&self) -> serde_json::Value {
        use base64::Engine as _;
        let b = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        serde_json::json!({"kty": "RSA", "n": b(&self.0.n().to_bytes_be()), "e": b(&self.0.e().to_bytes_be())})
    }
    async fn decrypt(
        &self,
        scheme: RsaDecryptScheme,
        ct: &[u8],
    ) -> tee_attest_core::Result<Zeroizing<Vec<u8>>> {
        if scheme != RsaDecryptScheme::OaepSha256 {
            return Err(Error::new(
                ErrorCode::DecryptTpmError,
                "bench: OAEP-SHA256 only",
            ));
        }
        self.0
            .decrypt(rsa::Oaep::new::<sha2::Sha256>(), ct)
            .map(Zeroizing::new)
            .map_err(|_| Error::new(ErrorCode::DecryptTpmError, "bench: soft decrypt failed"))
    }
}

fn soft() -> SoftDecryptor {
    SoftDecryptor(rsa::RsaPrivateKey::from_pkcs8_pem(TEST_KEY).expect("test key"))
}

fn recipient(d: &SoftDecryptor) -> RecipientKey {
    RecipientKey::from_jwk(&d.public_jwk()).expect("test key is usable")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// One output alive at a time, dropped outside the timing (as a caller
/// that encrypts, uses and drops a buffer): large buffers are then reused
/// by the allocator instead of each being a fresh mapping.
fn batch(size: usize) -> BatchSize {
    if size >= 1 << 20 {
        BatchSize::PerIteration
    } else {
        BatchSize::SmallInput
    }
}

const SIZES: [(usize, &str); 3] = [(1 << 10, "1KiB"), (1 << 20, "1MiB"), (64 << 20, "64MiB")];

fn raw_key() -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("key"))
}

/// Raw AES-256-GCM: one seal in place over the whole buffer.
fn bench_raw_seal(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    raw: &LessSafeKey,
    data: &[u8],
) {
    let mut buf = data.to_vec();
    g.bench_function(id, |b| {
        b.iter(|| {
            black_box(
                raw.seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key([1; 12]),
                    Aad::from(&[0u8; 32]),
                    &mut buf,
                )
                .expect("seal"),
            )
        })
    });
}

/// `data` sealed with raw AES-256-GCM, tag appended.
fn raw_sealed(raw: &LessSafeKey, data: &[u8]) -> Vec<u8> {
    let mut sealed = data.to_vec();
    let tag = raw
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key([1; 12]),
            Aad::from(&[0u8; 32]),
            &mut sealed,
        )
        .expect("seal");
    sealed.extend_from_slice(tag.as_ref());
    sealed
}

/// Raw AES-256-GCM: one open in place over the whole buffer (of a fresh
/// copy each time, made outside the timing).
fn bench_raw_open(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    raw: &LessSafeKey,
    sealed: &[u8],
    batch: BatchSize,
) {
    g.bench_function(id, |b| {
        b.iter_batched_ref(
            || sealed.to_vec(),
            |ct| {
                black_box(
                    raw.open_in_place(
                        Nonce::assume_unique_for_key([1; 12]),
                        Aad::from(&[0u8; 32]),
                        ct,
                    )
                    .expect("open")
                    .len(),
                )
            },
            batch,
        )
    });
}

fn encrypt_group(c: &mut Criterion) {
    let d = soft();
    let to = recipient(&d);
    let raw = raw_key();
    let mut g = c.benchmark_group("envelope_encrypt");
    for (size, name) in SIZES {
        if size >= 64 << 20 {
            g.sample_size(10);
        }
        g.throughput(Throughput::Bytes(size as u64));
        let data = vec![0xa5u8; size];
        bench_raw_seal(&mut g, BenchmarkId::new("raw-aes256gcm", name), &raw, &data);
        // Raw AES-GCM returning a new buffer: copy into a fresh Vec (the
        // same allocation as the envelope's), seal in place, append the tag.
        g.bench_function(BenchmarkId::new("raw-aes256gcm-new-buffer", name), |b| {
            b.iter_batched(
                || (),
                |()| {
                    let mut out = Vec::with_capacity(data.len() + 16);
                    out.extend_from_slice(&data);
                    let tag = raw
                        .seal_in_place_separate_tag(
                            Nonce::assume_unique_for_key([1; 12]),
                            Aad::from(&[0u8; 32]),
                            &mut out,
                        )
                        .expect("seal");
                    out.extend_from_slice(tag.as_ref());
                    out
                },
                batch(size),
            )
        });
        g.bench_function(BenchmarkId::new("envelope", name), |b| {
            b.iter_batched(
                || (),
                |()| {
                    tee_attest_broker::encrypt_to_key(EncryptionType::Envelope, &to, &data)
                        .expect("encrypt")
                },
                batch(size),
            )
        });
        g.bench_function(BenchmarkId::new("envelope-aes-path", name), |b| {
            b.iter_batched(
                || EnvelopeEncryptor::new(&to).expect("encryptor"),
                |enc| black_box(enc.encrypt(&data).expect("encrypt")),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn decrypt_group(c: &mut Criterion) {
    let d = soft();
    let to = recipient(&d);
    let rt = rt();
    let raw = raw_key();
    let mut g = c.benchmark_group("envelope_decrypt");
    for (size, name) in SIZES {
        if size >= 64 << 20 {
            g.sample_size(10);
        }
        g.throughput(Throughput::Bytes(size as u64));
        let sealed = raw_sealed(&raw, &vec![0xa5u8; size]);
        bench_raw_open(
            &mut g,
            BenchmarkId::new("raw-aes256gcm", name),
            &raw,
            &sealed,
            batch(size),
        );
        g.bench_function(BenchmarkId::new("raw-aes256gcm-new-buffer", name), |b| {
            b.iter_batched(
                || (),
                |()| {
                    let mut out = sealed.clone();
                    let n = raw
                        .open_in_place(
                            Nonce::assume_unique_for_key([1; 12]),
                            Aad::from(&[0u8; 32]),
                            &mut out,
                        )
                        .expect("open")
                        .len();
                    out.truncate(n);
                    out
                },
                batch(size),
            )
        });
        let (ct, meta) =
            tee_attest_broker::encrypt_to_key(EncryptionType::Envelope, &to, &vec![0xa5u8; size])
                .expect("encrypt");
        let opened = rt
            .block_on(EnvelopeDecryptor::open(&d, &meta))
            .expect("unwrap");
        // The plaintext comes back in a `Zeroizing` buffer; zeroizing it when
        // the caller drops it is measured apart (`zeroize-on-drop`).
        g.bench_function(BenchmarkId::new("envelope-aes-path", name), |b| {
            b.iter_batched(
                || (),
                |()| opened.decrypt(&ct).expect("decrypt"),
                batch(size),
            )
        });
        g.bench_function(BenchmarkId::new("zeroize-on-drop", name), |b| {
            b.iter_batched(
                || Zeroizing::new(vec![1u8; size]),
                drop,
                BatchSize::PerIteration,
            )
        });
    }
    let (_, meta) =
        tee_attest_broker::encrypt_to_key(EncryptionType::Envelope, &to, b"x").expect("encrypt");
    g.bench_function("unwrap-soft-rsa", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(EnvelopeDecryptor::open(&d, &meta))
                    .expect("unwrap"),
            )
        })
    });
    g.finish();
}

fn stream_group(c: &mut Criterion) {
    let d = soft();
    let to = recipient(&d);
    let rt = rt();
    let mut g = c.benchmark_group("envelope_stream");
    for (size, name) in [(1usize << 20, "1MiB"), (64 << 20, "64MiB")] {
        if size >= 64 << 20 {
            g.sample_size(10);
        }
        let data = vec![0x5au8; size];
        let mut ct = Vec::new();
        let enc = EnvelopeEncryptor::new(&to).expect("encryptor");
        let meta = enc.metadata().to_bytes();
        enc.encrypt_stream(&data[..], &mut ct).expect("encrypt");
        let opened = rt
            .block_on(EnvelopeDecryptor::open(&d, &meta))
            .expect("unwrap");
        g.throughput(Throughput::Bytes(size as u64));
        let raw = raw_key();
        bench_raw_seal(
            &mut g,
            BenchmarkId::new("raw-aes256gcm-seal", name),
            &raw,
            &data,
        );
        let sealed = raw_sealed(&raw, &data);
        bench_raw_open(
            &mut g,
            BenchmarkId::new("raw-aes256gcm-open", name),
            &raw,
            &sealed,
            batch(size),
        );
        // Data in memory → writer: sealed/opened straight from the slice.
        g.bench_function(BenchmarkId::new("encrypt-to-aes-path", name), |b| {
            b.iter_batched(
                || EnvelopeEncryptor::new(&to).expect("encryptor"),
                |enc| black_box(enc.encrypt_to(&data, std::io::sink()).expect("encrypt")),
                BatchSize::PerIteration,
            )
        });
        g.bench_function(BenchmarkId::new("decrypt-to-aes-path", name), |b| {
            b.iter(|| black_box(opened.decrypt_to(&ct, std::io::sink()).expect("decrypt")))
        });
        // A `Read` source → writer: each chunk is first read (copied) into
        // the chunk buffer, as from a file or a socket.
        g.bench_function(BenchmarkId::new("encrypt-stream-aes-path", name), |b| {
            b.iter_batched(
                || EnvelopeEncryptor::new(&to).expect("encryptor"),
                |enc| {
                    black_box(
                        enc.encrypt_stream(&data[..], std::io::sink())
                            .expect("encrypt"),
                    )
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(BenchmarkId::new("decrypt-stream-aes-path", name), |b| {
            b.iter(|| {
                black_box(
                    opened
                        .decrypt_stream(&ct[..], std::io::sink())
                        .expect("decrypt"),
                )
            })
        });
    }
    g.finish();
}

fn tpm_group(c: &mut Criterion) {
    let Ok(cvm) = tee_attest_mock::MockAzureCvm::start() else {
        eprintln!("tpm_decrypt skipped: swtpm is not installed (cargo xtask deps)");
        return;
    };
    let tcti = cvm.tcti();
    let dec = tee_attest_tpm::TpmDecryptor::open(Some(&tcti)).expect("vTPM");
    let to = RecipientKey::from_jwk(&dec.public_jwk()).expect("key");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("tpm_decrypt");
    g.sample_size(20);
    let (ct, _) = tee_attest_broker::encrypt_to_key(
        EncryptionType::None(RsaScheme::OaepSha256),
        &to,
        &[1u8; 32],
    )
    .expect("encrypt");
    g.bench_function("rsa-oaep-sha256-swtpm", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(dec.decrypt(RsaDecryptScheme::OaepSha256, &ct))
                    .expect("decrypt"),
            )
        })
    });
    let (ct, meta) = tee_attest_broker::encrypt_to_key(EncryptionType::Envelope, &to, &[2u8; 1024])
        .expect("encrypt");
    g.bench_function("envelope-1KiB-swtpm", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(tee_attest_broker::decrypt(
                    EncryptionType::Envelope,
                    &dec,
                    &ct,
                    &meta,
                ))
                .expect("decrypt"),
            )
        })
    });
    g.finish();
    drop(cvm);
}

/// A reader of `left` pseudo-random bytes, without holding them.
struct Pattern(u64, u32);

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.0).unwrap_or(usize::MAX));
        for b in &mut buf[..n] {
            self.1 = self.1.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *b = (self.1 >> 24) as u8;
        }
        self.0 -= n as u64;
        Ok(n)
    }
}

struct Hashing(aws_lc_rs::digest::Context);

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A 64 MiB encrypt + decrypt with nothing else in the process; prints the
/// peak resident set size.
fn peak_memory(mode: &str) {
    const LEN: u64 = 64 << 20;
    let d = soft();
    let to = recipient(&d);
    let rt = rt();
    let before = vm_hwm_kib();
    let sha = |r: &mut dyn Read| {
        let mut h = Hashing(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256));
        std::io::copy(r, &mut h).expect("copy");
        h.0.finish().as_ref().to_vec()
    };
    let expected = sha(&mut Pattern(LEN, 9));
    let got = if mode == "memory" {
        let mut data = Vec::new();
        Pattern(LEN, 9).read_to_end(&mut data).expect("read");
        let (ct, meta) = tee_attest_broker::encrypt_to_key(EncryptionType::Envelope, &to, &data)
            .expect("encrypt");
        drop(data);
        let pt = rt
            .block_on(tee_attest_broker::decrypt(
                EncryptionType::Envelope,
                &d,
                &ct,
                &meta,
            ))
            .expect("decrypt");
        sha(&mut &pt[..])
    } else {
        // Ciphertext through a pipe-like bounded hand-off would need threads;
        // a temporary file keeps both sides streaming with no buffer.
        let mut file = tempfile::tempfile().expect("tempfile");
        let enc = EnvelopeEncryptor::new(&to).expect("encryptor");
        let meta = enc.metadata().to_bytes();
        enc.encrypt_stream(Pattern(LEN, 9), std::io::BufWriter::new(&mut file))
            .expect("encrypt");
        std::io::Seek::rewind(&mut file).expect("rewind");
        let mut h = Hashing(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256));
        rt.block_on(tee_attest_broker::decrypt_stream(
            &d,
            &meta,
            std::io::BufReader::new(&mut file),
            &mut h,
        ))
        .expect("decrypt");
        h.0.finish().as_ref().to_vec()
    };
    assert_eq!(got, expected, "round trip");
    println!(
        "peak memory, 64 MiB envelope encrypt + decrypt ({mode}): VmHWM before {before} KiB, after {} KiB",
        vm_hwm_kib()
    );
}

fn main() {
    if let Ok(mode) = std::env::var("ENCRYPT_BENCH_RSS") {
        peak_memory(&mode);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    encrypt_group(&mut c);
    decrypt_group(&mut c);
    stream_group(&mut c);
    tpm_group(&mut c);
    c.final_summary();
}
