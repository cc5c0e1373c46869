//! ringloop against each other server, paired by round.
//!
//! Servers are interleaved within a round, so two servers' runs of the same
//! round saw the same machine state. Differences taken per round cancel
//! most of the round-to-round drift that makes the medians of the main
//! table move (±10–30 % here). For each point and each other server the
//! section gives the median of the per-round ratios (msgs/s) or differences
//! (latency, CPU), a distribution-free 95 % confidence interval for that
//! median (the sign-test interval: two order statistics, no resampling,
//! no assumption about the shape of the noise), and in how many rounds
//! ringloop was at least as good.

use std::fmt::Write as _;

use super::{Point, Results};
use crate::load::LoadReport;

/// The server the section is about.
const SUBJECT: &str = "ringloop";

/// Smallest number of rounds with a 95 % sign-test interval (n = 6 gives
/// the whole range, 96.9 % coverage).
const MIN_ROUNDS_FOR_CI: usize = 6;

/// `k` such that `[x_(k), x_(n+1-k)]` (1-based order statistics) covers the
/// median with probability ≥ 95 %: the largest `k` with
/// `2 · P(Binomial(n, ½) ≤ k − 1) ≤ 0.05`. `None` when even the full range
/// covers less.
fn sign_test_rank(n: usize) -> Option<usize> {
    if n < MIN_ROUNDS_FOR_CI {
        return None;
    }
    // P(X = i) for X ~ Binomial(n, ½), accumulated.
    let total = 2f64.powi(n as i32);
    let mut choose = 1f64;
    let mut cdf = 0f64;
    let mut k = 0;
    for i in 0..n {
        cdf += choose / total;
        if 2.0 * cdf > 0.05 {
            break;
        }
        k = i + 1;
        choose = choose * (n - i) as f64 / (i + 1) as f64;
    }
    (k >= 1).then_some(k)
}

/// Median, 95 % interval and the number of values on ringloop's good side.
#[derive(Debug, Clone, PartialEq)]
struct Summary {
    median: f64,
    ci: Option<(f64, f64)>,
    good: usize,
    n: usize,
}

fn summarize(mut v: Vec<f64>, good: impl Fn(f64) -> bool) -> Option<Summary> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let ci = sign_test_rank(n).map(|k| (v[k - 1], v[n - k]));
    Some(Summary {
        median,
        ci,
        good: v.iter().filter(|&&x| good(x)).count(),
        n,
    })
}

/// The rounds in which both servers succeeded at `point`, as pairs.
fn pairs<'a>(r: &'a Results, point: &Point, other: &str) -> Vec<(&'a LoadReport, &'a LoadReport)> {
    let of = |server: &str, round: usize| {
        r.runs
            .iter()
            .find(|x| x.server == server && &x.point == point && x.round == round)
            .and_then(|x| x.load.as_ref())
    };
    r.runs
        .iter()
        .filter(|x| x.server == SUBJECT && &x.point == point)
        .filter_map(|x| Some((x.load.as_ref()?, of(other, x.round)?)))
        .collect()
}

fn ratio_cell(s: Option<Summary>) -> String {
    let Some(s) = s else { return "-".into() };
    let ci =
        s.ci.map_or(String::new(), |(lo, hi)| format!(" [{lo:.2}, {hi:.2}]"));
    format!("{:.2}×{ci} · {}/{}", s.median, s.good, s.n)
}

/// A signed difference in µs, with fewer decimals the larger it is.
fn signed_us(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:+.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:+.1}")
    } else {
        format!("{v:+.2}")
    }
}

fn delta_cell(s: Option<Summary>) -> String {
    let Some(s) = s else { return "-".into() };
    let ci = s.ci.map_or(String::new(), |(lo, hi)| {
        format!(" [{}, {}]", signed_us(lo), signed_us(hi))
    });
    format!("{}{ci} · {}/{}", signed_us(s.median), s.good, s.n)
}

/// Per-round differences of ringloop minus `other`, one table row.
fn row(r: &Results, point: &Point, other: &str) -> Option<String> {
    let pairs = pairs(r, point, other);
    if pairs.is_empty() {
        return None;
    }
    let ratio = summarize(
        pairs
            .iter()
            .filter(|(_, b)| b.msgs_per_sec > 0.0)
            .map(|(a, b)| a.msgs_per_sec / b.msgs_per_sec)
            .collect(),
        |x| x >= 1.0,
    );
    let delta = |f: &dyn Fn(&LoadReport) -> Option<f64>| {
        summarize(
            pairs
                .iter()
                .filter_map(|(a, b)| Some(f(a)? - f(b)?))
                .collect(),
            |x| x <= 0.0,
        )
    };
    Some(format!(
        "| {other} | {} | {} | {} | {} |",
        ratio_cell(ratio),
        delta_cell(delta(&|l| Some(l.lat_p50_us))),
        delta_cell(delta(&|l| Some(l.lat_p99_us))),
        delta_cell(delta(&|l| l.server_cpu_us_per_msg)),
    ))
}

/// The section, when ringloop ran with at least one other server.
pub fn section(w: &mut String, r: &Results, names: &[&str]) {
    if !names.contains(&SUBJECT) || names.len() < 2 {
        return;
    }
    let _ = writeln!(w, "## {SUBJECT} against each server, paired by round\n");
    let _ = writeln!(
        w,
        "Each cell is the median over rounds of a per-round comparison of {SUBJECT} with the \
         row's server, both measured in the same round: the msgs/s ratio, or the difference \
         in p50, p99 and server CPU per message ({SUBJECT} minus the other; negative is \
         better). In brackets, a 95 % confidence interval for that median (sign-test \
         interval, from {MIN_ROUNDS_FOR_CI} rounds): an interval that does not contain 1× \
         (or 0) means the difference held across the rounds; one that contains it means \
         this run cannot tell the two apart. After the dot: in how many rounds {SUBJECT} \
         was at least as good.\n"
    );
    for p in &r.points {
        let rows: Vec<String> = names
            .iter()
            .filter(|&&n| n != SUBJECT)
            .filter_map(|n| row(r, p, n))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(w, "### {}\n", p.label());
        let _ = writeln!(
            w,
            "| vs | msgs/s ratio | p50 Δ µs | p99 Δ µs | server CPU Δ µs/msg |"
        );
        let _ = writeln!(w, "|---|--:|--:|--:|--:|");
        for line in rows {
            let _ = writeln!(w, "{line}");
        }
        let _ = writeln!(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_test_ranks_match_the_binomial_table() {
        // n = 20: P(X ≤ 5) = 0.0207, P(X ≤ 6) = 0.0577.
        assert_eq!(sign_test_rank(20), Some(6));
        // n = 7: only the full range, P(X ≤ 0) = 1/128.
        assert_eq!(sign_test_rank(7), Some(1));
        // n = 9: P(X ≤ 1) = 10/512 = 0.0195.
        assert_eq!(sign_test_rank(9), Some(2));
        assert_eq!(sign_test_rank(5), None);
        assert_eq!(sign_test_rank(3), None);
    }

    #[test]
    fn summary_of_differences() {
        let v: Vec<f64> = (1..=20).map(|i| f64::from(i) - 10.5).collect();
        let s = summarize(v, |x| x <= 0.0).unwrap();
        assert_eq!(s.median, 0.0);
        assert_eq!(s.ci, Some((-4.5, 4.5)));
        assert_eq!((s.good, s.n), (10, 20));
        let s = summarize(vec![1.1, 0.9, 1.2], |x| x >= 1.0).unwrap();
        assert_eq!((s.median, s.ci, s.good), (1.1, None, 2));
        assert!(summarize(vec![], |_| true).is_none());
    }

    #[test]
    fn cells_show_the_interval_only_when_there_is_one() {
        let s = summarize(vec![0.5; 8], |x| x <= 0.0);
        assert_eq!(delta_cell(s), "+0.50 [+0.50, +0.50] · 0/8");
        let s = summarize(vec![1.0, 1.04], |x| x >= 1.0);
        assert_eq!(ratio_cell(s), "1.02× · 2/2");
        assert_eq!(ratio_cell(None), "-");
        let s = summarize(vec![-303.1, 12.34, -0.5], |x| x <= 0.0);
        assert_eq!(delta_cell(s), "-0.50 · 2/3");
        assert_eq!(signed_us(-303.1), "-303");
        assert_eq!(signed_us(12.34), "+12.3");
    }
}
