//! Rule conditions: text -> checked expression tree -> value.
//!
//! In: a condition such as `syn >= 100 and distinct_dst_ports <= 10` or
//! `syn / max(synack, 1) > 5`. Out: an [`Expr`] that evaluates over [`MetricValues`], and
//! the list of metrics it reads. Guarantees: every error carries the character offset in
//! the condition where it was found; the top level must be a comparison (a truth value),
//! arithmetic must be on numbers; division by zero yields 0, never NaN or a panic.
//!
//! Grammar (lowest precedence first):
//! `or := and ("or" and)*`, `and := not ("and" not)*`, `not := "not" not | cmp`,
//! `cmp := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?`,
//! `sum := prod (("+" | "-") prod)*`, `prod := unary (("*" | "/") unary)*`,
//! `unary := "-" unary | atom`, `atom := number | metric | func "(" args ")" | "(" or ")"`.
//! Numbers accept `_` separators and the suffixes `k`, `M`, `G` (x1e3, x1e6, x1e9).

use crate::metrics::{Metric, MetricValues};

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64),
    Metric(Metric),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Call(Func, Vec<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Max,
    Min,
    Abs,
    /// `zscore(metric)`: standard deviations above the key's baseline for that metric.
    Zscore(Metric),
}

/// A condition error: what, and at which character of the condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub offset: usize,
    pub msg: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    Num,
    Bool,
}

/// Longest condition, in bytes: a rule's condition is a line or two. Checked before anything
/// else, so a huge one costs nothing.
pub const MAX_CONDITION_BYTES: usize = 4096;
/// Most tokens in a condition. Every node of the parsed tree takes at least one, so this also
/// bounds the tree's depth, and with it every recursion over the tree (evaluation,
/// `monotone_part`, clone, drop).
pub const MAX_TOKENS: usize = 512;
/// Deepest nesting of parentheses, function calls, `not` and unary `-` the parser recurses
/// into.
pub const MAX_NESTING: usize = 32;

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        if text.len() > MAX_CONDITION_BYTES {
            return Err(ExprError {
                offset: text
                    .char_indices()
                    .take_while(|(i, _)| *i < MAX_CONDITION_BYTES)
                    .count(),
                msg: format!(
                    "condition too long: {} bytes, at most {MAX_CONDITION_BYTES}",
                    text.len()
                ),
            });
        }
        let toks = lex(text)?;
        if let Some(t) = toks.get(MAX_TOKENS) {
            return Err(ExprError {
                offset: t.off,
                msg: format!(
                    "condition too long: {} tokens, at most {MAX_TOKENS}",
                    toks.len()
                ),
            });
        }
        let mut p = Parser {
            toks,
            pos: 0,
            end: text.chars().count(),
            depth: 0,
        };
        let (e, ty) = p.or()?;
        if let Some(t) = p.peek() {
            return Err(ExprError {
                offset: t.off,
                msg: format!("unexpected `{}`", t.text),
            });
        }
        if ty != Ty::Bool {
            return Err(ExprError {
                offset: 0,
                msg: "a condition must compare something, e.g. `syn >= 100`".into(),
            });
        }
        Ok(e)
    }

    pub fn eval(&self, v: &MetricValues) -> f64 {
        match self {
            Expr::Num(n) => *n,
            Expr::Metric(m) => v.get(*m),
            Expr::Neg(e) => -e.eval(v),
            Expr::Not(e) => b(e.eval(v) == 0.0),
            Expr::Call(f, args) => {
                let mut it = args.iter().map(|a| a.eval(v));
                match f {
                    Func::Abs => it.next().unwrap_or(0.0).abs(),
                    Func::Max => it.fold(f64::NEG_INFINITY, f64::max),
                    Func::Min => it.fold(f64::INFINITY, f64::min),
                    Func::Zscore(m) => v.zscore(*m),
                }
            }
            Expr::Bin(op, l, r) => {
                let a = l.eval(v);
                // Short-circuit logic so unneeded metrics are never read.
                match op {
                    BinOp::And => return b(a != 0.0 && r.eval(v) != 0.0),
                    BinOp::Or => return b(a != 0.0 || r.eval(v) != 0.0),
                    _ => {}
                }
                let c = r.eval(v);
                match op {
                    BinOp::Add => a + c,
                    BinOp::Sub => a - c,
                    BinOp::Mul => a * c,
                    BinOp::Div => {
                        if c == 0.0 {
                            0.0
                        } else {
                            a / c
                        }
                    }
                    BinOp::Lt => b(a < c),
                    BinOp::Le => b(a <= c),
                    BinOp::Gt => b(a > c),
                    BinOp::Ge => b(a >= c),
                    BinOp::Eq => b(a == c),
                    BinOp::Ne => b(a != c),
                    BinOp::And | BinOp::Or => unreachable!("handled above"),
                }
            }
        }
    }

    /// A condition implied by this one that can only turn from false to true when packets
    /// are added to the window (every metric grows with its packet set). If it was false at
    /// a key's last evaluation and the key got no packet since, the window has only lost
    /// packets, so the whole condition is still false: the evaluation can be skipped.
    /// `None` when no such part exists (the rule is then evaluated every slide).
    pub fn monotone_part(&self) -> Option<Expr> {
        match self {
            Expr::Bin(BinOp::And, l, r) => match (l.monotone_part(), r.monotone_part()) {
                (Some(a), Some(b)) => Some(Expr::Bin(BinOp::And, Box::new(a), Box::new(b))),
                (Some(a), None) | (None, Some(a)) => Some(a),
                (None, None) => None,
            },
            Expr::Bin(BinOp::Or, l, r) => {
                let (a, b) = (l.monotone_part()?, r.monotone_part()?);
                Some(Expr::Bin(BinOp::Or, Box::new(a), Box::new(b)))
            }
            Expr::Bin(BinOp::Ge | BinOp::Gt, l, r) if l.increasing() && r.constant() => {
                Some(self.clone())
            }
            Expr::Bin(BinOp::Le | BinOp::Lt, l, r) if l.constant() && r.increasing() => {
                Some(self.clone())
            }
            _ => None,
        }
    }

    /// Non-negative and non-decreasing as the window's packet set grows.
    fn increasing(&self) -> bool {
        match self {
            Expr::Num(n) => *n >= 0.0,
            Expr::Metric(_) => true,
            Expr::Bin(BinOp::Add | BinOp::Mul, l, r) => l.increasing() && r.increasing(),
            Expr::Bin(BinOp::Div, l, r) => l.increasing() && matches!(**r, Expr::Num(n) if n > 0.0),
            Expr::Call(Func::Max | Func::Min, args) => args.iter().all(|a| a.increasing()),
            _ => false,
        }
    }

    fn constant(&self) -> bool {
        match self {
            Expr::Num(_) => true,
            Expr::Metric(_) => false,
            Expr::Neg(e) | Expr::Not(e) => e.constant(),
            Expr::Bin(_, l, r) => l.constant() && r.constant(),
            Expr::Call(_, a) => a.iter().all(|e| e.constant()),
        }
    }

    /// Metrics the expression reads, in order of first appearance, without repeats.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut out = Vec::new();
        self.walk(&mut |m| {
            if !out.contains(&m) {
                out.push(m)
            }
        });
        out
    }

    fn walk(&self, f: &mut impl FnMut(Metric)) {
        match self {
            Expr::Num(_) => {}
            Expr::Metric(m) => f(*m),
            Expr::Neg(e) | Expr::Not(e) => e.walk(f),
            Expr::Bin(_, l, r) => {
                l.walk(f);
                r.walk(f);
            }
            Expr::Call(Func::Zscore(m), _) => f(*m),
            Expr::Call(_, a) => a.iter().for_each(|e| e.walk(f)),
        }
    }

    /// Metrics the expression takes a `zscore` of (they need a baseline).
    pub fn zscores(&self) -> Vec<Metric> {
        let mut out = Vec::new();
        self.walk_calls(&mut |func| {
            if let Func::Zscore(m) = func {
                if !out.contains(&m) {
                    out.push(m)
                }
            }
        });
        out
    }

    fn walk_calls(&self, f: &mut impl FnMut(Func)) {
        match self {
            Expr::Num(_) | Expr::Metric(_) => {}
            Expr::Neg(e) | Expr::Not(e) => e.walk_calls(f),
            Expr::Bin(_, l, r) => {
                l.walk_calls(f);
                r.walk_calls(f);
            }
            Expr::Call(func, a) => {
                f(*func);
                a.iter().for_each(|e| e.walk_calls(f));
            }
        }
    }
}

#[inline]
fn b(x: bool) -> f64 {
    if x {
        1.0
    } else {
        0.0
    }
}

#[derive(Clone, Debug)]
struct Tok {
    text: String,
    off: usize,
    kind: TokKind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum TokKind {
    Num(f64),
    Ident,
    Op,
}

fn lex(s: &str) -> Result<Vec<Tok>, ExprError> {
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            break; // comment to end of condition
        }
        let start = i;
        if c.is_ascii_digit() || (c == '.' && cs.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '.' || cs[i] == '_') {
                // allow exponents like 1e6 and 2.5e-3
                if (cs[i] == 'e' || cs[i] == 'E') && cs.get(i + 1) == Some(&'-') {
                    i += 1;
                }
                i += 1;
            }
            let text: String = cs[start..i].iter().collect();
            let n = parse_number(&text).ok_or_else(|| ExprError {
                offset: start,
                msg: format!("`{text}` is not a number (use e.g. 100, 2.5, 1e6, 10k, 5M)"),
            })?;
            out.push(Tok {
                text,
                off: start,
                kind: TokKind::Num(n),
            });
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            out.push(Tok {
                text: cs[start..i].iter().collect(),
                off: start,
                kind: TokKind::Ident,
            });
        } else {
            let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
            let op = if ["<=", ">=", "==", "!=", "&&", "||"].contains(&two.as_str()) {
                i += 2;
                match two.as_str() {
                    "&&" => "and".to_string(),
                    "||" => "or".to_string(),
                    _ => two,
                }
            } else if "<>+-*/(),!".contains(c) {
                i += 1;
                if c == '!' {
                    "not".to_string()
                } else {
                    c.to_string()
                }
            } else {
                return Err(ExprError {
                    offset: start,
                    msg: format!("unexpected character `{c}`"),
                });
            };
            let kind = if op == "and" || op == "or" || op == "not" {
                TokKind::Ident
            } else {
                TokKind::Op
            };
            out.push(Tok {
                text: op,
                off: start,
                kind,
            });
        }
    }
    Ok(out)
}

fn parse_number(t: &str) -> Option<f64> {
    let t = t.replace('_', "");
    let (body, mult) = match t.chars().last()? {
        'k' | 'K' => (&t[..t.len() - 1], 1e3),
        'M' => (&t[..t.len() - 1], 1e6),
        'G' => (&t[..t.len() - 1], 1e9),
        _ => (&t[..], 1.0),
    };
    body.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v * mult)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    end: usize,
    /// Current nesting (see [`MAX_NESTING`]).
    depth: usize,
}

type PResult = Result<(Expr, Ty), ExprError>;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn is(&self, s: &str) -> bool {
        self.peek().is_some_and(|t| t.text == s)
    }
    fn off(&self) -> usize {
        self.peek().map(|t| t.off).unwrap_or(self.end)
    }
    fn want(&self, ty: Ty, got: Ty, off: usize, what: &str) -> Result<(), ExprError> {
        if ty == got {
            Ok(())
        } else {
            let msg = match ty {
                Ty::Num => format!("{what} needs a number, not a comparison"),
                Ty::Bool => format!("{what} needs a comparison such as `syn >= 100`, not a number"),
            };
            Err(ExprError { offset: off, msg })
        }
    }

    /// Run `f` one nesting level deeper; an error at `off` past [`MAX_NESTING`].
    fn nested(&mut self, off: usize, f: impl FnOnce(&mut Parser) -> PResult) -> PResult {
        if self.depth >= MAX_NESTING {
            return Err(ExprError {
                offset: off,
                msg: format!("nested too deep: at most {MAX_NESTING} levels of parentheses, calls, `not` and `-`"),
            });
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn logic(&mut self, word: &str, next: fn(&mut Parser) -> PResult, op: BinOp) -> PResult {
        let off = self.off();
        let (mut e, ty) = next(self)?;
        if !self.is(word) {
            return Ok((e, ty));
        }
        self.want(Ty::Bool, ty, off, &format!("`{word}`"))?;
        while self.is(word) {
            self.pos += 1;
            let off = self.off();
            let (r, rty) = next(self)?;
            self.want(Ty::Bool, rty, off, &format!("`{word}`"))?;
            e = Expr::Bin(op, Box::new(e), Box::new(r));
        }
        Ok((e, Ty::Bool))
    }

    fn or(&mut self) -> PResult {
        self.logic("or", Parser::and, BinOp::Or)
    }
    fn and(&mut self) -> PResult {
        self.logic("and", Parser::not, BinOp::And)
    }
    fn not(&mut self) -> PResult {
        if self.is("not") {
            self.pos += 1;
            let off = self.off();
            let (e, ty) = self.nested(off, Parser::not)?;
            self.want(Ty::Bool, ty, off, "`not`")?;
            return Ok((Expr::Not(Box::new(e)), Ty::Bool));
        }
        self.cmp()
    }
    fn cmp(&mut self) -> PResult {
        let off = self.off();
        let (l, lty) = self.sum()?;
        let op = match self.peek().map(|t| t.text.as_str()) {
            Some("<") => BinOp::Lt,
            Some("<=") => BinOp::Le,
            Some(">") => BinOp::Gt,
            Some(">=") => BinOp::Ge,
            Some("==") => BinOp::Eq,
            Some("!=") => BinOp::Ne,
            _ => return Ok((l, lty)),
        };
        self.want(Ty::Num, lty, off, "a comparison")?;
        self.pos += 1;
        let roff = self.off();
        let (r, rty) = self.sum()?;
        self.want(Ty::Num, rty, roff, "a comparison")?;
        Ok((Expr::Bin(op, Box::new(l), Box::new(r)), Ty::Bool))
    }
    fn arith(&mut self, ops: &[(&str, BinOp)], next: fn(&mut Parser) -> PResult) -> PResult {
        let off = self.off();
        let (mut e, ty) = next(self)?;
        loop {
            let Some(op) = ops.iter().find(|(s, _)| self.is(s)).map(|p| p.1) else {
                return Ok((e, ty));
            };
            self.want(Ty::Num, ty, off, "arithmetic")?;
            self.pos += 1;
            let roff = self.off();
            let (r, rty) = next(self)?;
            self.want(Ty::Num, rty, roff, "arithmetic")?;
            e = Expr::Bin(op, Box::new(e), Box::new(r));
        }
    }
    fn sum(&mut self) -> PResult {
        self.arith(&[("+", BinOp::Add), ("-", BinOp::Sub)], Parser::prod)
    }
    fn prod(&mut self) -> PResult {
        self.arith(&[("*", BinOp::Mul), ("/", BinOp::Div)], Parser::unary)
    }
    fn unary(&mut self) -> PResult {
        if self.is("-") {
            self.pos += 1;
            let off = self.off();
            let (e, ty) = self.nested(off, Parser::unary)?;
            self.want(Ty::Num, ty, off, "`-`")?;
            return Ok((Expr::Neg(Box::new(e)), Ty::Num));
        }
        self.atom()
    }
    fn atom(&mut self) -> PResult {
        let Some(t) = self.peek().cloned() else {
            return Err(ExprError {
                offset: self.end,
                msg: "the condition ends too early".into(),
            });
        };
        self.pos += 1;
        match t.kind {
            TokKind::Num(n) => Ok((Expr::Num(n), Ty::Num)),
            TokKind::Op if t.text == "(" => {
                let (e, ty) = self.nested(t.off, Parser::or)?;
                if !self.is(")") {
                    return Err(ExprError {
                        offset: self.off(),
                        msg: "missing `)`".into(),
                    });
                }
                self.pos += 1;
                Ok((e, ty))
            }
            TokKind::Ident if self.is("(") => {
                let f = match t.text.as_str() {
                    "max" => Func::Max,
                    "min" => Func::Min,
                    "abs" => Func::Abs,
                    "zscore" => {
                        // zscore takes exactly one metric name
                        self.pos += 1;
                        let arg = self.peek().cloned();
                        let m = arg
                            .as_ref()
                            .filter(|a| a.kind == TokKind::Ident)
                            .and_then(|a| Metric::from_name(&a.text));
                        let Some(m) = m else {
                            return Err(ExprError {
                                offset: arg.map(|a| a.off).unwrap_or(self.end),
                                msg: "zscore takes one metric name, e.g. zscore(pps)".into(),
                            });
                        };
                        self.pos += 1;
                        if !self.is(")") {
                            return Err(ExprError {
                                offset: self.off(),
                                msg: "expected `)` after the metric".into(),
                            });
                        }
                        self.pos += 1;
                        return Ok((Expr::Call(Func::Zscore(m), Vec::new()), Ty::Num));
                    }
                    other => {
                        return Err(ExprError {
                            offset: t.off,
                            msg: format!(
                                "unknown function `{other}` (known: max, min, abs, zscore)"
                            ),
                        })
                    }
                };
                self.pos += 1;
                let mut args = Vec::new();
                loop {
                    let off = self.off();
                    let (a, ty) = self.nested(t.off, Parser::or)?;
                    self.want(Ty::Num, ty, off, &format!("`{}`", t.text))?;
                    args.push(a);
                    if self.is(",") {
                        self.pos += 1;
                    } else if self.is(")") {
                        self.pos += 1;
                        break;
                    } else {
                        return Err(ExprError {
                            offset: self.off(),
                            msg: "expected `,` or `)`".into(),
                        });
                    }
                }
                let ok = match f {
                    Func::Abs => args.len() == 1,
                    Func::Max | Func::Min => !args.is_empty(),
                    Func::Zscore(_) => false,
                };
                if !ok {
                    return Err(ExprError {
                        offset: t.off,
                        msg: format!("wrong number of arguments to `{}`", t.text),
                    });
                }
                Ok((Expr::Call(f, args), Ty::Num))
            }
            TokKind::Ident => match Metric::from_name(&t.text) {
                Some(m) => Ok((Expr::Metric(m), Ty::Num)),
                None => Err(ExprError {
                    offset: t.off,
                    msg: format!(
                        "unknown metric `{}` (known: {})",
                        t.text,
                        Metric::ALL
                            .iter()
                            .map(|m| m.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            },
            TokKind::Op => Err(ExprError {
                offset: t.off,
                msg: format!("unexpected `{}`", t.text),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(Metric, f64)]) -> MetricValues {
        let mut v = MetricValues::default();
        for (m, x) in pairs {
            v.set(*m, *x);
        }
        v
    }

    #[test]
    fn precedence_and_logic() {
        let e = Expr::parse("syn >= 100 and distinct_dst_ports <= 10 or rst > 5").unwrap();
        assert_eq!(
            e.metrics(),
            vec![Metric::Syn, Metric::DistinctDstPorts, Metric::Rst]
        );
        let v = vals(&[
            (Metric::Syn, 150.0),
            (Metric::DistinctDstPorts, 3.0),
            (Metric::Rst, 0.0),
        ]);
        assert_eq!(e.eval(&v), 1.0);
        let v = vals(&[
            (Metric::Syn, 150.0),
            (Metric::DistinctDstPorts, 30.0),
            (Metric::Rst, 0.0),
        ]);
        assert_eq!(e.eval(&v), 0.0);
    }

    #[test]
    fn arithmetic_and_functions() {
        let e = Expr::parse("syn / max(synack, 1) > 5 and bps >= 1.5M").unwrap();
        let v = vals(&[
            (Metric::Syn, 60.0),
            (Metric::SynAck, 0.0),
            (Metric::Bps, 2e6),
        ]);
        assert_eq!(e.eval(&v), 1.0);
        let e = Expr::parse("(packets - 2 * syn) / 0 == 0").unwrap();
        assert_eq!(
            e.eval(&vals(&[(Metric::Packets, 1.0), (Metric::Syn, 1.0)])),
            1.0
        );
        assert_eq!(
            Expr::parse("not (pps < 10k)")
                .unwrap()
                .eval(&vals(&[(Metric::Pps, 20_000.0)])),
            1.0
        );
    }

    #[test]
    fn zscore_reads_the_baseline() {
        let e = Expr::parse("zscore(pps) > 6 and pps > 1k").unwrap();
        assert_eq!(e.zscores(), vec![Metric::Pps]);
        assert_eq!(e.metrics(), vec![Metric::Pps]);
        let mut v = vals(&[(Metric::Pps, 5000.0)]);
        assert_eq!(e.eval(&v), 0.0);
        v.set_zscore(Metric::Pps, 7.0);
        assert_eq!(e.eval(&v), 1.0);
        assert!(Expr::parse("zscore(1) > 2")
            .unwrap_err()
            .msg
            .contains("one metric"));
        assert!(Expr::parse("zscore(pps, syn) > 2").is_err());
    }

    #[test]
    fn monotone_parts() {
        let m = |t: &str| Expr::parse(t).unwrap().monotone_part();
        assert_eq!(
            m("syn >= 100 and distinct_dst_ports <= 10"),
            Some(Expr::parse("syn >= 100").unwrap())
        );
        assert!(m("distinct_dst_ports <= 10").is_none());
        assert!(m("pps >= 2000 or bps >= 50M").is_some());
        assert!(m("pps >= 2000 or rst < 3").is_none());
        assert!(m("syn / max(synack, 1) > 5").is_none());
        assert_eq!(
            m("conn_attempts >= 10 and conn_attempts / distinct_dst_pairs >= 5"),
            Some(Expr::parse("conn_attempts >= 10").unwrap())
        );
        assert!(m("10 < packets + 2 * syn").is_some());
        assert!(m("packets - syn > 3").is_none());
        assert_eq!(
            m("zscore(pps) > 6 and pps > 1000"),
            Some(Expr::parse("pps > 1000").unwrap())
        );
    }

    #[test]
    fn limits_instead_of_stack_overflows() {
        // 20,000 parentheses: an error, not a stack overflow.
        let deep = format!("{}syn{} > 1", "(".repeat(20_000), ")".repeat(20_000));
        let e = Expr::parse(&deep).unwrap_err();
        assert!(e.msg.contains("too long"), "{e:?}");
        let nested = format!("{}syn{} > 1", "(".repeat(40), ")".repeat(40));
        let e = Expr::parse(&nested).unwrap_err();
        assert!(e.msg.contains("nested too deep"), "{e:?}");
        assert_eq!(e.offset, MAX_NESTING, "points at the first paren too many");
        let nots = format!("{}syn > 1", "not ".repeat(40));
        assert!(Expr::parse(&nots)
            .unwrap_err()
            .msg
            .contains("nested too deep"));
        let ok = format!(
            "{}syn{} > 1",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        assert!(Expr::parse(&ok).is_ok());
        // A flat chain: bounded by bytes (10 MB) and by tokens (a long one within 4 kB).
        let flat = vec!["syn > 1"; 1_500_000].join(" or ");
        assert!(Expr::parse(&flat).unwrap_err().msg.contains("bytes"));
        let chain = vec!["a>1"; 300].join(" or ").replace('a', "syn");
        let e = Expr::parse(&chain).unwrap_err();
        assert!(e.msg.contains("tokens"), "{e:?}");
        let fits = vec!["syn>1"; 100].join(" or ");
        let e = Expr::parse(&fits).unwrap();
        assert!(e.monotone_part().is_some());
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = Expr::parse("syn >= 100 and dst_portz > 3").unwrap_err();
        assert_eq!(e.offset, 15);
        assert!(e.msg.contains("unknown metric `dst_portz`"));
        assert_eq!(Expr::parse("syn + 1").unwrap_err().offset, 0);
        assert_eq!(Expr::parse("syn >= ").unwrap_err().offset, 7);
        assert!(Expr::parse("(syn > 1")
            .unwrap_err()
            .msg
            .contains("missing `)`"));
        assert!(Expr::parse("syn > 1 and 5")
            .unwrap_err()
            .msg
            .contains("needs a comparison"));
        assert!(Expr::parse("foo(1) > 1")
            .unwrap_err()
            .msg
            .contains("unknown function"));
        assert_eq!(Expr::parse("syn > 1 $").unwrap_err().offset, 8);
        assert!(Expr::parse("syn > 1x").is_err());
    }
}
