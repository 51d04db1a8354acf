//! Real flow exporters driven by the tests: softflowd (Debian's) reading a capture.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ctl(sock: &Path, cmd: &str) {
    let st = Command::new("softflowctl")
        .arg("-c")
        .arg(sock)
        .arg(cmd)
        .stdout(Stdio::null())
        .status()
        .expect("softflowctl");
    assert!(st.success(), "softflowctl {cmd}");
}

/// softflowd reads `pcap` and exports its flows to `to` as NetFlow `version`; its flow
/// table is made large enough for the whole capture (its default, 8,192 flows, evicts and
/// loses some of the UDP flood's 9,000 one-packet flows).
pub fn softflowd(pcap: &Path, to: &str, version: &str, extra: &[&str], dir: &Path) {
    let sock = dir.join("softflowd.ctl");
    let mut sf = Command::new("softflowd")
        .arg("-r")
        .arg(pcap)
        .args(["-n", to, "-v", version, "-d", "-m", "100000"])
        .arg("-c")
        .arg(&sock)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start softflowd");
    let t0 = Instant::now();
    while !sock.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no softflowd control socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The file is read before softflowd polls its control socket; then every flow is
    // expired and exported.
    std::thread::sleep(Duration::from_millis(500));
    ctl(&sock, "expire-all");
    ctl(&sock, "shutdown");
    let st = sf.wait().unwrap();
    assert!(st.success(), "softflowd exit {st:?}");
}
