//! The gateway's fuzz targets' properties, run a bounded number of times in the test suite
//! (the long campaigns are `fuzz/README.md`'s), on random bytes and on inputs shaped like the
//! real thing.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[test]
fn fuzz_properties_hold_on_a_bounded_random_run() {
    let mut runner = TestRunner::new(Config { cases: 2000, ..Config::default() });
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..256), |data| {
            keyward_gateway::__fuzzing::path(&data);
            keyward_gateway::__fuzzing::query(&data);
            keyward_gateway::__fuzzing::forward_auth(&data);
            keyward_gateway::__fuzzing::ext_authz(&data);
            keyward_gateway::__fuzzing::forwarded_for(&data);
            keyward_gateway::__fuzzing::front_door(&data);
            keyward_gateway::__fuzzing::forwarded_certificate(&data);
            Ok(())
        })
        .unwrap();
}

/// Envoy's gRPC check with a path of `#\x07`, which URI parsing read as an empty path: the
/// decision was asked about a request whose path did not start with `/` (found by the
/// ext_authz fuzz target; the HTTP check already refused fragments).
#[test]
fn an_envoy_check_whose_path_is_a_fragment_is_refused() {
    let check = [
        10, 12, 34, 10, 18, 8, 90, 4, 10, 2, 33, 107, 10, 0, 10, 12, 34, 10, 18, 8, 18, 2, 53, 42,
        34, 2, 35, 7,
    ];
    keyward_gateway::__fuzzing::ext_authz(&check);
}

proptest! {
    #![proptest_config(Config { cases: 2000, ..Config::default() })]

    #[test]
    fn paths_built_from_segments_and_escapes_hold(path in "(/(\\.|\\.\\.|%2[eEfF]|%5[cC]|%6[fF]|%3[bB]|;|[a-z]{1,3}|%[0-9a-fA-F]{2})){0,6}/?") {
        keyward_gateway::__fuzzing::path(path.as_bytes());
    }

    #[test]
    fn the_front_door_reads_requests_as_the_url_crate_does(
        method in "(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS|get|FOO)",
        host in "([a-zA-Z0-9_-]{1,6}|xn--[a-z0-9-]{1,8}|0x[0-9a-f]{1,3}|[0-9]{1,4})(\\.([a-zA-Z0-9_-]{1,6}|[0-9]{1,3}|0x[0-9]{1,2})){0,3}\\.?(:[0-9]{1,5})?|\\[(::1|0:0::1|::ffff:1\\.2\\.3\\.4|::A)\\](:[0-9]{1,3})?",
        path in "(/(\\.|\\.\\.|%2[eE]|%6[fF]|;|%3[bB]|%41|%7[eE]|[a-z~!$&'()*+,=:@-]{1,4}|%[0-9a-fA-F]{2}|%C3%A9)){0,6}/?",
    ) {
        keyward_gateway::__fuzzing::front_door(format!("{method}\n{host}\n{path}").as_bytes());
    }

    #[test]
    fn queries_with_credential_names_hold(query in "((t|ms|s|m%73|%74|%73|tt|page|a\\+b)(=[a-z0-9%]{0,4})?&?){0,8}") {
        keyward_gateway::__fuzzing::query(query.as_bytes());
    }

    #[test]
    fn forward_auth_requests_hold(
        path in "/auth/check(/[a-z.%]{0,6}){0,3}",
        uri in prop::option::of("/[a-z./%]{0,10}(\\?[a-z=&]{0,6})?"),
        forwarded in prop::option::of("/[a-z./%]{0,10}"),
        method in prop::option::of("(GET|POST|get|BAD METHOD)"),
    ) {
        let mut text = format!("GET {path}");
        if let Some(uri) = uri { text.push_str(&format!("\nx-original-uri: {uri}")); }
        if let Some(forwarded) = forwarded { text.push_str(&format!("\nx-forwarded-uri: {forwarded}")); }
        if let Some(method) = method { text.push_str(&format!("\nx-original-method: {method}")); }
        keyward_gateway::__fuzzing::forward_auth(text.as_bytes());
    }
}
