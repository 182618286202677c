//! Fuzzes `keyward_gateway::__fuzzing::forwarded_certificate`; see that function for the
//! properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_gateway::__fuzzing::forwarded_certificate(data));
