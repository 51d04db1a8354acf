//! The merge of a config file into the command line, on the real command tree.

use std::ffi::OsString;
use std::io::Write as _;

use clap::{CommandFactory, Parser};

use super::*;
use crate::{Cli, Command as Cmd};

/// A config file holding `text`, kept while the test runs.
fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn merge(cmdline: &[&str], cfg: &tempfile::NamedTempFile) -> Result<Merged, Vec<String>> {
    let mut argv: Vec<OsString> = vec!["flowsentry".into()];
    argv.extend(cmdline.iter().map(OsString::from));
    argv.push("--config".into());
    argv.push(cfg.path().into());
    args_with_config(argv, Cli::command())
}

fn words(m: &Merged) -> Vec<String> {
    m.argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn errors(cmdline: &[&str], text: &str) -> String {
    let f = file(text);
    let e = merge(cmdline, &f).expect_err("an error");
    e.join("\n")
        .replace(&f.path().display().to_string(), "c.toml")
}

#[test]
fn keys_become_options_before_the_command_line() {
    let f = file("shards = 4\nalerts = \"-\"\nno-tui = true\nquiet = false\nmax-state = 64\n");
    let m = merge(&["replay", "x.pcap"], &f).unwrap();
    let w = words(&m);
    assert_eq!(
        &w[..6],
        [
            "flowsentry",
            "replay",
            "--shards=4",
            "--alerts=-",
            "--no-tui",
            "--max-state=64"
        ]
    );
    assert_eq!(w[6], "x.pcap");
    let Cmd::Replay(a) = Cli::try_parse_from(&m.argv).unwrap().cmd else {
        panic!("not replay");
    };
    assert_eq!(a.engine.shards, Some(4));
    assert!(a.engine.no_tui && !a.engine.quiet);
}

#[test]
fn the_command_line_wins() {
    let f =
        file("shards = 4\nno-tui = true\nfiles = [\"f.pcap\"]\n[kafka-properties]\na = 1\nb = 2\n");
    let m = merge(
        &["replay", "--shards", "1", "--tui", "-X", "a=9", "c.pcap"],
        &f,
    )
    .unwrap();
    let w = words(&m);
    assert!(
        !w.iter()
            .any(|x| x == "--shards=4" || x == "--no-tui" || x == "-Xa=1"),
        "{w:?}"
    );
    assert!(w.contains(&"-Xb=2".to_string()), "{w:?}");
    assert!(!w.contains(&"f.pcap".to_string()), "{w:?}");
    let Cmd::Replay(a) = Cli::try_parse_from(&m.argv).unwrap().cmd else {
        panic!("not replay");
    };
    assert_eq!(a.engine.shards, Some(1));
    assert_eq!(a.files, [std::path::PathBuf::from("c.pcap")]);
}

#[test]
fn positional_values_go_last() {
    let f = file("files = [\"-odd.pcap\", \"b.pcap\"]\n[replay]\nspeed = 2.5\n");
    let m = merge(&["replay"], &f).unwrap();
    let Cmd::Replay(a) = Cli::try_parse_from(&m.argv).unwrap().cmd else {
        panic!("not replay");
    };
    assert_eq!(a.files.len(), 2);
    assert_eq!(a.files[0], std::path::PathBuf::from("-odd.pcap"));
    assert_eq!(a.speed, Some(2.5));
}

#[test]
fn command_tables_apply_to_their_command_only() {
    let text = "[live]\ninterface = \"eth9\"\nverbose = 2\n[collect]\nlisten = [\"127.0.0.1:0\"]\n";
    let f = file(text);
    let m = merge(&["live"], &f).unwrap();
    let Cmd::Live(a) = Cli::try_parse_from(&m.argv).unwrap().cmd else {
        panic!("not live");
    };
    assert_eq!((a.interface.as_str(), a.verbose), ("eth9", 2));
    let m = merge(&["replay"], &f).unwrap();
    assert_eq!(words(&m).len(), 4, "nothing added: {:?}", words(&m));
}

#[test]
fn an_option_the_command_line_excludes_is_skipped() {
    // publish: files and -i exclude each other, and the capture options need -i.
    let f = file(
        "brokers = \"b:9092\"\n[publish]\ninterface = \"eth0\"\nsnaplen = 128\ntopic = \"t\"\n",
    );
    let m = merge(&["publish", "a.pcap"], &f).unwrap();
    let w = words(&m);
    assert!(
        !w.iter()
            .any(|x| x.starts_with("--interface") || x.starts_with("--snaplen")),
        "{w:?}"
    );
    assert!(Cli::try_parse_from(&m.argv).is_ok(), "{w:?}");
    let m = merge(&["publish"], &f).unwrap();
    assert!(words(&m).contains(&"--interface=eth0".to_string()));
    assert!(Cli::try_parse_from(&m.argv).is_ok());
}

#[test]
fn unknown_keys_name_their_place_and_a_hint() {
    let e = errors(&["replay"], "shards = 2\n\nlisten = [\"0.0.0.0:2055\"]\n");
    assert_eq!(
        e,
        "c.toml:3:1: unknown key `listen` for `flowsentry replay` \
         (an option of `flowsentry collect`: put it under [collect])"
    );
    let e = errors(&["replay"], "[live]\n  max-stat = 2\n");
    assert_eq!(
        e,
        "c.toml:2:3: unknown key `max-stat` for `flowsentry live` (did you mean `max-state`?)"
    );
    // Checked in every table, whichever command runs; every error is reported.
    let e = errors(
        &["replay"],
        "[collect]\nbogus = 1\n[live]\nconfig = \"x\"\n",
    );
    assert!(
        e.starts_with("c.toml:2:1: unknown key `bogus` for `flowsentry collect`"),
        "{e}"
    );
    assert!(e.contains("c.toml:4:1: unknown key `config`"), "{e}");
}

#[test]
fn wrong_types_name_the_value() {
    let e = errors(&["replay"], "no-tui = \"yes\"\n");
    assert_eq!(e, "c.toml:1:10: `no-tui` takes true or false, not a string");
    let e = errors(&["replay"], "shards = [1, 2]\n");
    assert!(
        e.starts_with("c.toml:1:10: `shards` takes one string or number"),
        "{e}"
    );
    let e = errors(&["replay"], "alerts = 1979-05-27\n");
    assert!(e.starts_with("c.toml:1:10: a date"), "{e}");
    let e = errors(&["replay"], "live = 1\n");
    assert!(e.starts_with("c.toml:1:1: `live` is the table"), "{e}");
    let e = errors(
        &["replay"],
        "[kafka-properties]\n\"sasl.password\" = [\"hunter2\"]\n",
    );
    assert!(
        e.starts_with("c.toml:2:1: Kafka property `sasl.password` takes"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    let e = errors(&["replay"], "shards = \n");
    assert!(e.starts_with("c.toml:1:"), "{e}");
}

#[test]
fn clap_errors_on_file_values_name_their_place() {
    let f = file("# comment\nshards = \"many\"\n");
    let m = merge(&["replay"], &f).unwrap();
    let err = Cli::try_parse_from(&m.argv).err().expect("bad value");
    let msg = m.explain(&err).expect("explained");
    let name = f.path().display().to_string();
    assert!(
        msg.starts_with(&format!("{name}:2:10: key `shards`: ")),
        "{msg}"
    );
    assert!(msg.contains("many"), "{msg}");
    // A value of a secret-looking key is not echoed.
    let f = file("max-keys = \"hunter2\"\n");
    let m = merge(&["replay"], &f).unwrap();
    let err = Cli::try_parse_from(&m.argv).err().expect("bad value");
    let msg = m.explain(&err).expect("explained");
    assert!(
        !msg.contains("hunter2") && msg.contains("[redacted]"),
        "{msg}"
    );
}

#[test]
fn the_shipped_example_suits_every_command() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dist/flowsentry.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let f = file(&text);
    // Every engine command parses with it (collect and live take their required options
    // from their tables); publish has none of the engine options (see the file).
    for cmd in ["replay", "live", "collect"] {
        let m = merge(&[cmd], &f).unwrap_or_else(|e| panic!("{cmd}: {e:?}"));
        if let Err(e) = Cli::try_parse_from(&m.argv) {
            panic!("{cmd}: {e}");
        }
    }
    let m = merge(&["consume", "--topic", "t"], &f).unwrap();
    assert!(Cli::try_parse_from(&m.argv).is_ok());
    // The commented Kafka parts, uncommented, are valid too.
    let kafka: String = text
        .lines()
        .skip_while(|l| !l.starts_with("# brokers"))
        .take_while(|l| !l.starts_with("# `publish`"))
        .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
        .collect();
    let f = file(&format!("{text}\n{kafka}"));
    let m = merge(&["consume"], &f).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(Cli::try_parse_from(&m.argv).is_ok());
}

#[test]
fn no_config_no_change() {
    let argv: Vec<OsString> = ["flowsentry", "rules", "list"].map(OsString::from).to_vec();
    let m = args_with_config(argv.clone(), Cli::command()).unwrap();
    assert_eq!(m.argv, argv);
}

#[test]
fn edit_distance() {
    assert_eq!(distance("max-stat", "max-state"), 1);
    assert_eq!(distance("shrads", "shards"), 2);
    assert_eq!(distance("", "abc"), 3);
}
