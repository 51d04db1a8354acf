//! Condition expressions: parse or report errors; what parses evaluates and yields its
//! monotone part without a panic.
#![no_main]
use flowsentry::metrics::MetricValues;
use flowsentry::rules::Expr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(e) = Expr::parse(text) {
            let _ = e.eval(&MetricValues::default());
            let _ = e.monotone_part();
            let _ = e.clone();
        }
    }
});
