//! Every vector under `vectors/`, one test each, in both directions: the signer reproduces
//! the expected signature, the verifier accepts it, and every negative case fails with its
//! documented error code.

include!(concat!(env!("OUT_DIR"), "/vector_tests.rs"));
