//! Verification cost of each scheme on a realistic request, beside the floor no verifier can
//! beat: one HMAC-SHA256 over the same bytes with the key schedule already done. Also
//! compares two HMAC implementations (ring, RustCrypto) and counts heap allocations per
//! verify. For RFC 9421 with each public-key algorithm, the floor is the crate's own verify
//! (`ed25519-dalek`, `p256`, `p384`, `rsa`) of the same signature base and signature.
//! `bench/sig.sh` runs this and prints the ratios.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{KeyInit, Mac};
use keyward_sig::private_key::PrivateKey;
use keyward_sig::public_key::{Algorithm, PublicKey};
use keyward_sig::query_hmac::{self, ParameterOrder};
use keyward_sig::rfc9421::{self, DigestAlgorithm, MessageSigner, SignatureParams};
use keyward_sig::token::{CredentialKind, TokenDigest};
use keyward_sig::{
    AccessGrant, CredentialLookup, KeyKind, KeyMaterial, RequestView, Verifier, header_hmac,
};

/// Counts heap allocations, to report how many one verify makes.
struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const NOW_MS: i64 = 1_732_431_234_567;
const SECRET: &[u8] = b"kwsec_4bXq9TzP2mVw7LcR1sYd8HkN3fJa0gEu6xxxxx";

/// The server's view of its keys: an in-memory map of shared key material, as its credential
/// cache will be.
struct Keys(HashMap<String, Arc<KeyMaterial>>);

impl CredentialLookup for Keys {
    type Key = Arc<KeyMaterial>;
    type Grant = AccessGrant;

    fn api_key(&self, token: &str) -> Option<Arc<KeyMaterial>> {
        self.0.get(token).cloned()
    }

    fn access_token(&self, _: &TokenDigest) -> Option<AccessGrant> {
        None
    }
}

/// One scheme's realistic signed request, and the exact bytes its verifier HMACs.
struct Case {
    name: &'static str,
    method: &'static str,
    target: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
    signed_bytes: Vec<u8>,
}

fn cases(token: &str, key: &KeyMaterial) -> Vec<Case> {
    let body = BODY.to_vec();

    let query_target = query_hmac::sign(
        "/api/activities?page=2&pageSize=50&status=active&sort=name",
        token,
        NOW_MS,
        key,
        ParameterOrder::Bytewise,
    )
    .expect("signs");
    let query = query_target.split_once('?').expect("has a query").1;
    let unsigned = &query[..query.rfind("&s=").expect("signed")];
    let query_bytes =
        query_hmac::canonical_query(unsigned, ParameterOrder::Bytewise, Default::default())
            .expect("parses")
            .as_bytes()
            .to_vec();

    let signed = header_hmac::sign(token, &body, NOW_MS, key).expect("a secret signs");
    let header_bytes = [signed.apikey.as_bytes(), &body, signed.timestamp.as_bytes()].concat();
    let header_headers = vec![
        ("host", b"api.example.com".to_vec()),
        ("content-type", b"application/json".to_vec()),
        (signed.key_header, signed.apikey.clone().into_bytes()),
        (header_hmac::TIMESTAMP, signed.timestamp.clone().into_bytes()),
        (header_hmac::SIGN, signed.sign.clone().into_bytes()),
    ];

    vec![
        Case {
            name: "query-hmac",
            method: "GET",
            target: query_target,
            headers: vec![("host", b"api.example.com".to_vec())],
            body: Vec::new(),
            signed_bytes: query_bytes,
        },
        Case {
            name: "header-hmac",
            method: "POST",
            target: "/api/activities".to_owned(),
            headers: header_headers,
            body: body.clone(),
            signed_bytes: header_bytes,
        },
        http_signature_case("http-signature", token, key),
    ]
}

fn bench(c: &mut Criterion) {
    let token = CredentialKind::ApiKeyToken.mint(&[42; 30]);
    let material = KeyMaterial::new(KeyKind::Domain, SECRET);
    let keys = Keys(HashMap::from([(token.clone(), Arc::new(material.clone()))]));
    let verifier = Verifier::default();
    let ring_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
    let rustcrypto_key =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).expect("any key length");

    let mut allocations = Vec::new();
    for case in cases(&token, &material) {
        let pairs: Vec<(&str, &[u8])> =
            case.headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        let view = RequestView::new(case.method, &case.target, &pairs, &case.body);
        verifier.verify(&view, NOW_MS, &keys).expect("the case verifies");

        let mut group = c.benchmark_group(case.name);
        group.bench_function("verify", |b| {
            b.iter(|| verifier.verify(black_box(&view), NOW_MS, &keys).map(|v| v.scheme()))
        });
        group.bench_function("floor-ring", |b| {
            b.iter(|| ring::hmac::sign(&ring_key, black_box(&case.signed_bytes)))
        });
        group.bench_function("floor-rustcrypto", |b| {
            b.iter(|| {
                let mut mac = rustcrypto_key.clone();
                mac.update(black_box(&case.signed_bytes));
                mac.finalize().into_bytes()
            })
        });
        group.finish();

        const RUNS: usize = 1000;
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..RUNS {
            black_box(verifier.verify(black_box(&view), NOW_MS, &keys).map(|v| v.scheme()).ok());
        }
        let per_verify = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / RUNS as f64;
        allocations.push(format!("{}={per_verify}", case.name));
    }
    println!("allocations per verify: {}", allocations.join(" "));
}

/// The body the signed requests carry.
const BODY: &[u8] = br#"{"data":{"name":"Rural water points, phase 2","description":"Boreholes and hand pumps in three districts","status":"active","startDate":"2026-01-01"}}"#;

/// The RFC 9421 case: a `POST` with a query, the body, `Content-Digest` and six covered
/// components, signed by `signer` (its `alg` stated).
fn http_signature_case(name: &'static str, token: &str, signer: &dyn MessageSigner) -> Case {
    let body = BODY.to_vec();
    let target = "/api/activities?notify=true".to_owned();
    let mut headers = vec![
        ("host", b"api.example.com".to_vec()),
        ("content-type", b"application/json".to_vec()),
        ("content-digest", rfc9421::content_digest(&body, DigestAlgorithm::Sha256).into_bytes()),
    ];
    let params = SignatureParams::new(
        &["@method", "@authority", "@path", "@query", "content-type", "content-digest"],
        NOW_MS / 1000,
        token,
    )
    .and_then(|params| params.with_algorithm(Some(signer.algorithm())))
    .expect("valid params");
    let pairs: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
    let view = RequestView::new("POST", &target, &pairs, &body);
    let signed_bytes = rfc9421::signature_base(&view, &params).expect("base").as_bytes().to_vec();
    let signature = rfc9421::sign(&view, "sig1", &params, signer).expect("signs");
    headers.push(("signature-input", signature.signature_input.into_bytes()));
    headers.push(("signature", signature.signature.into_bytes()));
    Case { name, method: "POST", target, headers, body, signed_bytes }
}

/// A crate's own verification: (signature base, signature) -> valid.
type Floor = Box<dyn Fn(&[u8], &[u8]) -> bool>;

/// One RFC 9421 request signed with a private key of `algorithm`: the request, the key
/// material keyward verifies with, and the crate's own verification of the same signature base
/// (the floor).
fn public_key_case(algorithm: Algorithm, token: &str) -> (Case, KeyMaterial, Floor) {
    let private = PrivateKey::generate(algorithm).expect("a key");
    let pem = private.public_key_pem();
    let public = PublicKey::parse(&pem, Some(algorithm)).expect("parses");
    let case = http_signature_case(algorithm.name(), token, &private);
    // The crates' own verification, keys decoded once, as keyward decodes them once.
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let floor: Floor = match algorithm {
        Algorithm::Ed25519 => {
            let key = ed25519_dalek::VerifyingKey::from_public_key_pem(&pem).expect("pem");
            Box::new(move |message, signature| {
                ed25519_dalek::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify_strict(message, &signature).is_ok())
            })
        }
        Algorithm::EcdsaP256Sha256 => {
            let key = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).expect("pem");
            Box::new(move |message, signature| {
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify(message, &signature).is_ok())
            })
        }
        Algorithm::EcdsaP384Sha384 => {
            let key = p384::ecdsa::VerifyingKey::from_public_key_pem(&pem).expect("pem");
            Box::new(move |message, signature| {
                p384::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify(message, &signature).is_ok())
            })
        }
        Algorithm::RsaPssSha512 => {
            let key = rsa::PublicKey::from_public_key_pem(&pem).expect("pem");
            Box::new(move |message, signature| {
                key.pss_verify::<sha2::Sha512>(message, signature).is_ok()
            })
        }
        Algorithm::RsaV15Sha256 => {
            let key = rsa::PublicKey::from_public_key_pem(&pem).expect("pem");
            Box::new(move |message, signature| {
                key.pkcs1v15_verify::<sha2::Sha256>(message, signature).is_ok()
            })
        }
    };
    (case, KeyMaterial::public(KeyKind::Domain, public), floor)
}

/// keyward's verification of an RFC 9421 request signed with each asymmetric algorithm, against
/// the crate's own verify of the same signature base and signature.
fn bench_public_keys(c: &mut Criterion) {
    let token = CredentialKind::ApiKeyToken.mint(&[43; 30]);
    let verifier = Verifier::default();
    for algorithm in Algorithm::ALL {
        let (case, material, floor) = public_key_case(algorithm, &token);
        let keys = Keys(HashMap::from([(token.clone(), Arc::new(material))]));
        let pairs: Vec<(&str, &[u8])> =
            case.headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        let view = RequestView::new(case.method, &case.target, &pairs, &case.body);
        verifier.verify(&view, NOW_MS, &keys).expect("the case verifies");
        let signature_value = case.headers.iter().find(|(n, _)| *n == "signature").expect("signed");
        let encoded = std::str::from_utf8(&signature_value.1).expect("ascii");
        let encoded = encoded.trim_start_matches("sig1=:").trim_end_matches(':');
        let signature = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64");
        assert!(floor(&case.signed_bytes, &signature), "{algorithm}: the floor verifies");
        let mut group = c.benchmark_group(format!("http-signature-{}", case.name));
        group.bench_function("verify", |b| {
            b.iter(|| verifier.verify(black_box(&view), NOW_MS, &keys).map(|v| v.scheme()))
        });
        group.bench_function("floor", |b| {
            b.iter(|| floor(black_box(&case.signed_bytes), black_box(&signature)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench, bench_public_keys);
criterion_main!(benches);
