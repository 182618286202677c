//! A bounded run of every fuzz target's properties on inputs built from the vectors (the same
//! seeds `fuzz/seed-corpus.sh` writes) and on single-byte mutations of them, so the test suite
//! exercises the fuzz properties on structured input, not only on random bytes.

use keyward_sig::__fuzzing;
use keyward_testkit::{Vector, vectors_root};

/// Every vector with a request, loaded.
fn request_vectors() -> Vec<Vector> {
    let mut vectors = Vec::new();
    for scheme in std::fs::read_dir(vectors_root()).expect("vectors/") {
        let scheme = scheme.expect("entry").path();
        if !scheme.is_dir() {
            continue;
        }
        for case in std::fs::read_dir(&scheme).expect("scheme dir") {
            let case = case.expect("entry").path();
            if case.join("request.txt").exists() {
                let name = |p: &std::path::Path| {
                    p.file_name().expect("name").to_string_lossy().into_owned()
                };
                vectors.push(Vector::load(&name(&scheme), &name(&case)));
            }
        }
    }
    vectors
}

/// A fuzz target's property and one input for it.
type Seed = (fn(&[u8]), Vec<u8>);

/// The seed inputs of every target for one vector.
fn seeds(vector: &Vector) -> Vec<Seed> {
    let request = vector.request.as_ref().expect("a request");
    let header = |name: &str| {
        request.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    };
    let head = vector.file("request.txt").expect("request.txt");
    let mut seeds: Vec<Seed> =
        vec![(__fuzzing::verify_request, [&head[..], b"\n\n", &request.body].concat())];
    if let Some((_, query)) = request.target.split_once('?') {
        seeds.push((__fuzzing::query_string, query.as_bytes().to_vec()));
    }
    if let (Some(input), Some(signature)) = (header("signature-input"), header("signature")) {
        seeds.push((__fuzzing::signature_fields, [&input[..], b"\0", &signature].concat()));
        // The member alone (after its label), over the request and a 200 answer.
        let member = input.splitn(2, |&b| b == b'=').nth(1).unwrap_or_default().to_vec();
        let member = [&b"sig="[..], &member].concat();
        let answer =
            [&[100u8][..], b"content-type: application/json\ncontent-digest: sha-256=:AAAA:"]
                .concat();
        let over = [&member[..], b"\0", &head, b"\n\n", &request.body, b"\0", &answer].concat();
        seeds.push((__fuzzing::component_params, over));
    }
    if let Some(digest) = header("content-digest") {
        seeds.push((__fuzzing::content_digest, [&digest[..], b"\0", &request.body].concat()));
    }
    if let Some(stamp) = header("x-logtrust-timestamp") {
        seeds.push((__fuzzing::timestamp, stamp));
    }
    seeds
}

#[test]
fn fuzz_properties_hold_on_vector_seeds_and_their_mutations() {
    let vectors = request_vectors();
    assert!(vectors.len() > 50, "the vectors were found");
    let mut runs = 0usize;
    for vector in &vectors {
        for (target, seed) in seeds(vector) {
            target(&seed);
            runs += 1;
            // Deterministic single-byte mutations spread over the input.
            let step = (seed.len() / 40).max(1);
            for at in (0..seed.len()).step_by(step) {
                for replacement in [b'\0', b'"', b',', b'=', b';', b'%', b'(', b'9', b' '] {
                    let mut mutated = seed.clone();
                    mutated[at] = replacement;
                    target(&mutated);
                    let mut shortened = seed.clone();
                    shortened.remove(at);
                    target(&shortened);
                    runs += 2;
                }
            }
        }
    }
    println!("{runs} fuzz-property runs on {} vector requests", vectors.len());
}
