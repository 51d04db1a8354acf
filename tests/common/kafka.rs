//! Kafka helpers of the integration tests: the shared broker (scripts/broker.sh starts
//! nisshi on 127.0.0.1:9092; scripts/test.sh does it before the tests), unique names,
//! producing and topics.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::BaseProducer;

use flowsentry::record::{proto, tcp_flag, Addr, Record};

pub const BROKERS: &str = "127.0.0.1:9092";

pub fn require_all() -> bool {
    std::env::var("FLOWSENTRY_REQUIRE_ALL").as_deref() == Ok("1")
}

pub fn reachable(addr: &str) -> bool {
    let a: SocketAddr = addr.parse().expect("address");
    TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok()
}

/// The shared broker, or `None` (skip) when there is none and CI does not require it.
pub fn broker() -> Option<&'static str> {
    if reachable(BROKERS) {
        return Some(BROKERS);
    }
    if require_all() {
        panic!(
            "no Kafka broker on {BROKERS} (scripts/broker.sh start); FLOWSENTRY_REQUIRE_ALL=1 \
             makes this a failure"
        );
    }
    eprintln!("skipping: no Kafka broker on {BROKERS} (start one with scripts/broker.sh start)");
    None
}

pub fn unique(what: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("fs-{what}-{}-{}", std::process::id(), n % 1_000_000_000_000)
}

pub fn producer(brokers: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("producer")
}

pub fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let cfg = flowsentry::kafka::KafkaConfig::new(brokers);
    let n = flowsentry::kafka::ensure_topic(&cfg, topic, partitions, Duration::from_secs(15))
        .expect("creating a topic");
    assert_eq!(n, partitions);
}

/// A SYN from `src` port 40000 to 10.9.9.9 `dst_port` (44 bytes of IP, 58 on the wire), as
/// `kafka::wire` carries it.
pub fn syn_probe(ts_ns: u64, src: Addr, dst_port: u16) -> (Record, u32) {
    let r = Record {
        ts_ns,
        src,
        dst: Addr::v4([10, 9, 9, 9]),
        src_port: 40000,
        dst_port,
        ip_len: 44,
        proto: proto::TCP,
        tcp_flags: tcp_flag::SYN,
        ..Default::default()
    };
    (r, 58)
}
