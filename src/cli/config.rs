//! `--config FILE`: the options of `replay`, `live`, `consume`, `collect` and `publish`
//! from a TOML file.
//!
//! In: the raw command line and the clap command tree. Out: the command line clap then
//! parses, `[prog, COMMAND, options from the file..., the command line's own arguments...,
//! positional values from the file]`, or every error in the file as `FILE:LINE:COLUMN: ...`.
//!
//! Layout: every long option of a command is a key spelled as on the command line without
//! the dashes (`shards = 4`, `no-tui = true`, `listen = ["0.0.0.0:2055"]`), a positional
//! argument is its name (`files = ["a.pcap"]`), Kafka's `-X KEY=VALUE` is the table
//! `[kafka-properties]`. Top-level keys apply to the command being run; the tables
//! `[replay]`, `[live]`, ... hold keys for that command alone (`[live.kafka-properties]`).
//!
//! Guarantees: the keys come from the commands' own clap definitions, so every option is a
//! key and nothing else is; an unknown key, or a value of the wrong type, is an error at its
//! line and column, in every table whichever command runs. The command line wins: a key the
//! command line sets (or an option it sets that excludes the key) is skipped, and so are the
//! file's positional values when the command line gives any. A value clap then rejects is
//! reported at its place in the file. Values are never echoed by this module, and a value
//! clap echoes is redacted for secret-looking keys (see [`flowsentry::kafka::is_secret_key`]).

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::ArgAction;
use clap::error::{ContextKind, ContextValue};
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Args, Command};
use toml::Spanned;

use node::{parse_toml, place, Entries, Node};

/// The table holding Kafka's `-X KEY=VALUE` properties.
const PROPS_TABLE: &str = "kafka-properties";

/// `--config FILE`, flattened into the commands that take it. Read before clap parses the
/// command line (by [`parse`]), so the parsed value itself is never used.
#[derive(Args)]
#[allow(dead_code)]
pub struct ConfigArg {
    /// Read options from a TOML file (example: dist/flowsentry.toml). Each key is a long
    /// option without its dashes (`shards = 4`, `no-tui = true`, `listen = ["0.0.0.0:2055"]`),
    /// positional arguments by name (`files = ["a.pcap"]`), `-X` properties in a
    /// `[kafka-properties]` table. Top-level keys apply to this command, tables `[replay]`,
    /// `[live]`, `[consume]`, `[collect]`, `[publish]` to that command only. Options on the
    /// command line win over the file. Unknown keys are errors (FILE:LINE:COLUMN, exit 2).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Parse the command line of `C` with the options of its `--config` file, if any. On an
/// error (in the file, or clap's for a value from it) the message is printed and the exit
/// status returned; clap's own errors, help and version exit as clap does.
pub fn parse<C: clap::Parser>(argv: impl IntoIterator<Item = OsString>) -> Result<C, ExitCode> {
    let merged = match args_with_config(argv.into_iter().collect(), C::command()) {
        Ok(m) => m,
        Err(errors) => {
            for e in errors {
                eprintln!("flowsentry: error: {e}");
            }
            return Err(ExitCode::from(2));
        }
    };
    C::try_parse_from(&merged.argv).map_err(|e| match merged.explain(&e) {
        Some(msg) => {
            eprintln!("flowsentry: error: {msg}");
            ExitCode::from(2)
        }
        None => e.exit(),
    })
}

/// The command line to parse, and where the options taken from the file came from.
#[derive(Debug)]
pub struct Merged {
    pub argv: Vec<OsString>,
    origins: Vec<Origin>,
}

/// An option given by the file: its flag (`--shards`, `-X`), key and place.
#[derive(Debug)]
struct Origin {
    flag: String,
    key: String,
    place: String,
    /// The value, kept only to redact it from clap's message (secret-looking keys).
    secret: Option<String>,
}

impl Merged {
    fn plain(argv: Vec<OsString>) -> Merged {
        Merged {
            argv,
            origins: Vec::new(),
        }
    }

    /// clap's error `e` as `FILE:LINE:COLUMN: ...` when it is about an option from the file.
    pub fn explain(&self, e: &clap::Error) -> Option<String> {
        let flags = [ContextKind::InvalidArg, ContextKind::PriorArg]
            .into_iter()
            .filter_map(|k| e.get(k))
            .flat_map(|v| match v {
                ContextValue::String(s) => vec![s.clone()],
                ContextValue::Strings(v) => v.clone(),
                _ => Vec::new(),
            });
        let o = flags
            .filter_map(|f| {
                let flag = f.split([' ', '=']).next().unwrap_or_default().to_string();
                self.origins.iter().find(|o| o.flag == flag)
            })
            .next()?;
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        let mut msg = first.strip_prefix("error: ").unwrap_or(first).to_string();
        if let Some(v) = o.secret.as_deref().filter(|v| !v.is_empty()) {
            msg = msg.replace(v, "[redacted]");
        }
        Some(format!("{}: key `{}`: {msg}", o.place, o.key))
    }
}

/// The command line `argv` with the options of its `--config` file inserted (see the
/// module's comment), or every error found in the file. `root` is the whole command tree.
pub fn args_with_config(argv: Vec<OsString>, mut root: Command) -> Result<Merged, Vec<String>> {
    root.build();
    let Ok(m) = root.clone().ignore_errors(true).try_get_matches_from(&argv) else {
        return Ok(Merged::plain(argv)); // --help, --version: clap answers them
    };
    let Some((name, sub_m)) = m.subcommand() else {
        return Ok(Merged::plain(argv));
    };
    let Some(path) = sub_m.try_get_one::<PathBuf>("config").ok().flatten() else {
        return Ok(Merged::plain(argv));
    };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{file}: cannot read the config file: {e}")])?;
    let doc = parse_toml(&text, &file)?;
    let commands = configurable(&root);
    let mut cx = Ctx {
        file: &file,
        text: &text,
        errors: Vec::new(),
        commands: &commands,
    };
    let planned = cx.top_level(&doc, name);
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    let sub = root.find_subcommand(name).expect("matched subcommand");
    Ok(cx.merge(argv, sub, sub_m, planned))
}

/// The commands that take `--config`, with their options.
fn configurable(root: &Command) -> Vec<(String, Vec<Opt>)> {
    root.get_subcommands()
        .filter(|c| c.get_arguments().any(|a| a.get_id() == "config"))
        .map(|c| (c.get_name().to_string(), options(c)))
        .collect()
}

/// How an option takes its value from the file.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// `--flag`: true or false.
    Flag,
    /// `-v -v`: a count.
    Count,
    /// `--key VALUE` once.
    Single,
    /// `--key VALUE` repeatable: an array (or one value).
    Multiple,
    /// Positional values: an array (or one value).
    Positional,
    /// `-X KEY=VALUE`: the `[kafka-properties]` table.
    Props,
}

/// An option of a command, as a key of the file.
#[derive(Debug, Clone)]
struct Opt {
    id: String,
    key: String,
    kind: Kind,
    /// How clap names it in errors: `--shards`, `-X`; empty for positionals.
    flag: String,
}

/// Every option of `cmd` a file may set (not help, version or --config itself).
fn options(cmd: &Command) -> Vec<Opt> {
    cmd.get_arguments()
        .filter(|a| a.get_id() != "config")
        .filter_map(|a| {
            let id = a.get_id().to_string();
            let (key, kind, flag) = match (a.get_long(), a.get_short(), a.get_action()) {
                (_, _, ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong) => {
                    return None
                }
                (_, _, ArgAction::Version) => return None,
                _ if a.is_positional() => (id.clone(), Kind::Positional, String::new()),
                (Some(l), _, action) => (l.to_string(), long_kind(action)?, format!("--{l}")),
                (None, Some(s), ArgAction::Append) => {
                    (PROPS_TABLE.into(), Kind::Props, format!("-{s}"))
                }
                _ => return None,
            };
            Some(Opt {
                id,
                key,
                kind,
                flag,
            })
        })
        .collect()
}

fn long_kind(action: &ArgAction) -> Option<Kind> {
    Some(match action {
        ArgAction::SetTrue | ArgAction::SetFalse => Kind::Flag,
        ArgAction::Count => Kind::Count,
        ArgAction::Append => Kind::Multiple,
        ArgAction::Set => Kind::Single,
        _ => return None,
    })
}

/// A key of the file that applies to the command being run.
struct Planned<'a> {
    opt: Opt,
    key: &'a Spanned<String>,
    value: &'a Spanned<Node>,
}

/// Checking the file against the commands.
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<String>,
    commands: &'a [(String, Vec<Opt>)],
}

impl<'a> Ctx<'a> {
    fn at(&self, at: usize) -> String {
        place(self.file, self.text, at)
    }

    fn err(&mut self, at: usize, msg: String) {
        let p = self.at(at);
        self.errors.push(format!("{p}: {msg}"));
    }

    fn opts(&self, cmd: &str) -> &'a [Opt] {
        let c = self.commands.iter().find(|(n, _)| n == cmd);
        c.map_or(&[], |(_, o)| o.as_slice())
    }

    /// Check every entry; those for `running` are returned.
    fn top_level(&mut self, doc: &'a Entries, running: &str) -> Vec<Planned<'a>> {
        let mut planned = Vec::new();
        for (k, v) in doc {
            if self.commands.iter().any(|(n, _)| n == k.get_ref()) {
                let Node::Table(entries) = v.get_ref() else {
                    let msg = format!(
                        "`{0}` is the table of `flowsentry {0}` options: [{0}]",
                        k.get_ref()
                    );
                    self.err(k.span().start, msg);
                    continue;
                };
                let found = self.entries(entries, k.get_ref(), true);
                if k.get_ref() == running {
                    planned.extend(found);
                }
            } else {
                planned.extend(self.entry(k, v, running, false));
            }
        }
        planned
    }

    fn entries(&mut self, entries: &'a Entries, cmd: &str, table: bool) -> Vec<Planned<'a>> {
        entries
            .iter()
            .filter_map(|(k, v)| self.entry(k, v, cmd, table))
            .collect()
    }

    /// One key of command `cmd` (in its table when `table`), checked.
    fn entry(
        &mut self,
        k: &'a Spanned<String>,
        v: &'a Spanned<Node>,
        cmd: &str,
        table: bool,
    ) -> Option<Planned<'a>> {
        let Some(opt) = self.opts(cmd).iter().find(|o| o.key == *k.get_ref()) else {
            let msg = self.unknown(k.get_ref(), cmd, table);
            self.err(k.span().start, msg);
            return None;
        };
        self.check_value(opt, v)?;
        Some(Planned {
            opt: opt.clone(),
            key: k,
            value: v,
        })
    }

    /// The message for key `key`, which command `cmd` does not have.
    fn unknown(&self, key: &str, cmd: &str, table: bool) -> String {
        let mut msg = format!("unknown key `{key}` for `flowsentry {cmd}`");
        let others: Vec<&str> = (self.commands.iter())
            .filter(|(n, o)| n != cmd && o.iter().any(|o| o.key == key))
            .map(|(n, _)| n.as_str())
            .collect();
        if key == "config" {
            msg += " (a config file cannot name another)";
        } else if self.commands.iter().any(|(n, _)| n == key) {
            msg += &format!(" (tables of commands are top-level: [{key}])");
        } else if let Some(first) = others.first() {
            let tables: Vec<String> = others.iter().map(|n| format!("[{n}]")).collect();
            msg += &format!(
                " (an option of `flowsentry {first}`{}: put it under {})",
                if others.len() > 1 { " and others" } else { "" },
                tables.join(" or ")
            );
        } else if let Some(near) = self.nearest(key, cmd, table) {
            msg += &format!(" (did you mean `{near}`?)");
        }
        msg
    }

    /// The closest spelling among the keys allowed where `key` stands.
    fn nearest(&self, key: &str, cmd: &str, table: bool) -> Option<String> {
        let mut names: Vec<&str> = self.opts(cmd).iter().map(|o| o.key.as_str()).collect();
        if !table {
            names.extend(self.commands.iter().map(|(n, _)| n.as_str()));
        }
        names
            .into_iter()
            .map(|n| (distance(key, n), n))
            .filter(|&(d, n)| d <= 2.max(n.len() / 4))
            .min()
            .map(|(_, n)| n.to_string())
    }

    /// Whether `v` has a type option `opt` takes (else an error at the value).
    fn check_value(&mut self, opt: &Opt, v: &Spanned<Node>) -> Option<()> {
        let ok = match (opt.kind, v.get_ref()) {
            (Kind::Flag, n) => matches!(n, Node::Bool(_)),
            (Kind::Count, n) => matches!(n, Node::Int(0..=255) | Node::Bool(_)),
            (Kind::Single, n) => n.scalar(false).is_some(),
            (Kind::Multiple | Kind::Positional, Node::Array(a)) => {
                return self.check_array(opt, a);
            }
            (Kind::Multiple | Kind::Positional, n) => n.scalar(false).is_some(),
            (Kind::Props, Node::Table(t)) => return self.check_props(t),
            (Kind::Props, _) => false,
        };
        if ok {
            return Some(());
        }
        let takes = match opt.kind {
            Kind::Flag => "true or false",
            Kind::Count => "a count from 0 to 255",
            Kind::Single => "one string or number",
            Kind::Multiple | Kind::Positional => "an array of strings or numbers",
            Kind::Props => "a table of librdkafka properties (\"security.protocol\" = \"SSL\")",
        };
        let msg = format!(
            "`{}` takes {takes}, not {}",
            opt.key,
            v.get_ref().type_name()
        );
        self.err(v.span().start, msg);
        None
    }

    fn check_array(&mut self, opt: &Opt, a: &[Spanned<Node>]) -> Option<()> {
        let mut ok = true;
        for x in a.iter().filter(|x| x.get_ref().scalar(false).is_none()) {
            let msg = format!(
                "`{}` takes strings or numbers, not {}",
                opt.key,
                x.get_ref().type_name()
            );
            self.err(x.span().start, msg);
            ok = false;
        }
        ok.then_some(())
    }

    fn check_props(&mut self, t: &Entries) -> Option<()> {
        let mut ok = true;
        for (k, v) in t {
            let bad_key = k.get_ref().is_empty() || k.get_ref().contains('=');
            if bad_key || v.get_ref().scalar(true).is_none() {
                let msg = if bad_key {
                    "a Kafka property name is not empty and has no `=`".to_string()
                } else {
                    format!(
                        "Kafka property `{}` takes a string, number or boolean, not {}",
                        k.get_ref(),
                        v.get_ref().type_name()
                    )
                };
                self.err(k.span().start, msg);
                ok = false;
            }
        }
        ok.then_some(())
    }

    /// `argv` with the planned options of the file that the command line does not set.
    fn merge(
        &self,
        argv: Vec<OsString>,
        sub: &Command,
        m: &ArgMatches,
        planned: Vec<Planned>,
    ) -> Merged {
        let Some(at) = command_index(&argv, sub) else {
            return Merged::plain(argv);
        };
        let cli_set: Vec<&Arg> = (sub.get_arguments())
            .filter(|a| m.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
            .collect();
        let cli_props = given_props(sub, m);
        let (mut opts, mut tail, mut origins) = (Vec::new(), Vec::new(), Vec::new());
        for p in planned {
            let arg = sub
                .get_arguments()
                .find(|a| a.get_id() == p.opt.id.as_str());
            let Some(arg) = arg else { continue };
            if p.opt.kind != Kind::Props && cli_set.iter().any(|c| excludes(sub, c, arg)) {
                continue; // the command line wins
            }
            let words = self.words(&p, &cli_props, &mut origins);
            if p.opt.kind == Kind::Positional {
                tail.extend(words);
            } else {
                opts.extend(words);
            }
        }
        let mut out: Vec<OsString> = argv[..=at].to_vec();
        out.extend(opts.into_iter().map(OsString::from));
        let rest = &argv[at + 1..];
        out.extend(rest.iter().cloned());
        if !tail.is_empty() && !rest.iter().any(|a| a == "--") {
            out.push("--".into());
        }
        out.extend(tail.into_iter().map(OsString::from));
        Merged { argv: out, origins }
    }

    /// The command-line words of one planned key; where they came from goes to `origins`.
    fn words(&self, p: &Planned, cli_props: &[String], origins: &mut Vec<Origin>) -> Vec<String> {
        let (flag, key, v) = (&p.opt.flag, p.key.get_ref(), p.value.get_ref());
        match (p.opt.kind, v) {
            (Kind::Props, Node::Table(t)) => (t.iter())
                .filter(|(k, _)| !cli_props.contains(k.get_ref()))
                .map(|(k, x)| {
                    let value = x.get_ref().scalar(true).unwrap_or_default();
                    let name = format!("{PROPS_TABLE}.{}", k.get_ref());
                    origins.push(self.origin(flag, name, k.span().start, &value));
                    format!("{flag}{}={value}", k.get_ref())
                })
                .collect(),
            (Kind::Flag | Kind::Count, n) => {
                origins.push(self.origin(flag, key.clone(), p.value.span().start, ""));
                let times = match n {
                    Node::Int(i) => usize::try_from(*i).unwrap_or(0),
                    Node::Bool(b) => usize::from(*b),
                    _ => 0,
                };
                vec![flag.clone(); times]
            }
            (kind, n) => {
                let values = match n {
                    Node::Array(a) => a.iter().collect(),
                    _ => vec![p.value],
                };
                (values.into_iter())
                    .map(|x| {
                        let value = x.get_ref().scalar(false).unwrap_or_default();
                        origins.push(self.origin(flag, key.clone(), x.span().start, &value));
                        match kind {
                            Kind::Positional => value,
                            _ => format!("{flag}={value}"),
                        }
                    })
                    .collect()
            }
        }
    }

    /// Where option `flag` (file key `key`) came from; the value is kept for secrets only.
    fn origin(&self, flag: &str, key: String, at: usize, value: &str) -> Origin {
        let secret = flowsentry::kafka::is_secret_key(&key).then(|| value.to_string());
        Origin {
            flag: flag.into(),
            key,
            place: self.at(at),
            secret,
        }
    }
}

/// Where the command's name stands in `argv`.
fn command_index(argv: &[OsString], sub: &Command) -> Option<usize> {
    let names: Vec<&OsStr> = std::iter::once(sub.get_name())
        .chain(sub.get_all_aliases())
        .map(OsStr::new)
        .collect();
    (1..argv.len()).find(|&i| names.contains(&argv[i].as_os_str()))
}

/// The Kafka property names the command line sets with `-X`.
fn given_props(sub: &Command, m: &ArgMatches) -> Vec<String> {
    let Some(x) = options(sub).into_iter().find(|o| o.kind == Kind::Props) else {
        return Vec::new();
    };
    if m.value_source(&x.id) != Some(ValueSource::CommandLine) {
        return Vec::new();
    }
    (m.get_raw(&x.id).into_iter().flatten())
        .map(|v| {
            v.to_string_lossy()
                .split('=')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// Whether `given` (on the command line) excludes `arg` (from the file): the same option,
/// a conflict either way, or both in a group of one.
fn excludes(cmd: &Command, given: &Arg, arg: &Arg) -> bool {
    let (g, a) = (given.get_id(), arg.get_id());
    g == a
        || cmd
            .get_arg_conflicts_with(given)
            .iter()
            .any(|c| c.get_id() == a)
        || cmd
            .get_arg_conflicts_with(arg)
            .iter()
            .any(|c| c.get_id() == g)
        || cmd.get_groups().any(|grp| {
            let ids: Vec<_> = grp.get_args().collect();
            !grp.clone().is_multiple() && ids.contains(&g) && ids.contains(&a)
        })
}

/// Edit distance (insertions, deletions, substitutions), for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

mod node;
#[cfg(test)]
mod tests;
