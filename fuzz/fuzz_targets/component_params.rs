//! Fuzzes `keyward_sig::__fuzzing::component_params`; see that function for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_sig::__fuzzing::component_params(data));
