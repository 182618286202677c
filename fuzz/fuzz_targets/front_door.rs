//! Fuzzes `keyward_gateway::__fuzzing::front_door`: keyward's canonical form of a request
//! against the `http` and `url` crates' readings; see that function for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_gateway::__fuzzing::front_door(data));
