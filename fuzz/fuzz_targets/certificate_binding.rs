//! Fuzzes `keyward_sig::__fuzzing::certificate_binding`; see that function for the properties
//! checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_sig::__fuzzing::certificate_binding(data));
