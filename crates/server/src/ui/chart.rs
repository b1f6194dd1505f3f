//! Usage charts drawn on the server as SVG (no JavaScript, nothing
//! third-party): stacked bars per bucket, allowed calls solid and refused ones
//! hatched on top, so the two read apart without colour; every bar carries a
//! `<title>` with its numbers, and the page shows the same numbers as a table.

use keygate_core::time::format_rfc3339;
use keygate_store::UsageCounts;

use crate::service::usage::{Bucket, Granularity};

pub const WIDTH: i64 = 760;
pub const HEIGHT: i64 = 240;
const LEFT: i64 = 56;
const RIGHT: i64 = 12;
const TOP: i64 = 12;
const BOTTOM: i64 = 36;

pub struct Bar {
    pub x: i64,
    pub w: i64,
    pub allowed_y: i64,
    pub allowed_h: i64,
    pub refused_y: i64,
    pub refused_h: i64,
    /// What a pointer over the bar shows (and screen readers read).
    pub title: String,
}

pub struct Tick {
    pub y: i64,
    pub label: String,
}

pub struct XLabel {
    pub x: i64,
    pub label: String,
}

/// One row of the table under the chart.
pub struct Row {
    pub label: String,
    pub allowed: u64,
    pub refused: u64,
    pub scope: u64,
    pub rate_limit: u64,
    pub expired: u64,
    pub revoked: u64,
    pub network: u64,
}

pub struct Chart {
    /// Unique on the page: names the pattern and the title elements.
    pub id: &'static str,
    pub title: String,
    pub summary: String,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    pub x_labels: Vec<XLabel>,
    pub rows: Vec<Row>,
    pub total: UsageCounts,
    pub plot_bottom: i64,
    pub plot_right: i64,
    pub left: i64,
}

impl Chart {
    pub fn width(&self) -> i64 {
        WIDTH
    }
    pub fn height(&self) -> i64 {
        HEIGHT
    }
    pub fn is_empty(&self) -> bool {
        self.total.is_zero()
    }
}

/// `2026-05-12 14:00` (hour, minute) or `2026-05-12` (day), UTC.
fn label(start: i64, g: Granularity) -> String {
    let s = format_rfc3339(start);
    match g {
        Granularity::Day => s[..10].to_owned(),
        _ => format!("{} {}", &s[..10], &s[11..16]),
    }
}

/// A short label for the x axis: the day (`05-12`) or the hour (`14:00`).
fn short(start: i64, g: Granularity) -> String {
    let s = format_rfc3339(start);
    match g {
        Granularity::Day => s[5..10].to_owned(),
        _ => s[11..16].to_owned(),
    }
}

/// A round step for about four grid lines up to `max`.
fn step(max: u64) -> u64 {
    let raw = max.div_ceil(4).max(1);
    let mag = 10u64.pow(raw.ilog10());
    [1, 2, 5, 10]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10 * mag)
}

pub fn build(id: &'static str, title: &str, buckets: &[Bucket], g: Granularity) -> Chart {
    let mut total = UsageCounts::default();
    for b in buckets {
        total.add(&b.counts);
    }
    let peak = buckets
        .iter()
        .map(|b| b.counts.allowed + b.counts.refused())
        .max()
        .unwrap_or(0);
    let step = step(peak.max(1));
    let top = step * peak.max(1).div_ceil(step);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let plot_w = WIDTH - LEFT - RIGHT;
    let n = buckets.len().max(1) as i64;
    let slot = plot_w / n;
    let bar_w = (slot * 7 / 10).max(1);
    let scale = |v: u64| (v as i64 * plot_h) / top as i64;
    let bottom = TOP + plot_h;
    let bars = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let c = &b.counts;
            let ah = scale(c.allowed);
            let rh = scale(c.refused());
            Bar {
                x: LEFT + i as i64 * slot + (slot - bar_w) / 2,
                w: bar_w,
                allowed_y: bottom - ah,
                allowed_h: ah,
                refused_y: bottom - ah - rh,
                refused_h: rh,
                title: format!(
                    "{}: {} allowed, {} refused",
                    label(b.start, g),
                    c.allowed,
                    c.refused()
                ),
            }
        })
        .collect();
    let ticks = (0..=top / step)
        .map(|k| Tick {
            y: bottom - scale(k * step),
            label: (k * step).to_string(),
        })
        .collect();
    // About eight labels on the x axis.
    let every = (buckets.len().div_ceil(8)).max(1);
    let x_labels = buckets
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, b)| XLabel {
            x: LEFT + i as i64 * slot + slot / 2,
            label: short(b.start, g),
        })
        .collect();
    let rows = buckets
        .iter()
        .map(|b| Row {
            label: label(b.start, g),
            allowed: b.counts.allowed,
            refused: b.counts.refused(),
            scope: b.counts.scope,
            rate_limit: b.counts.rate_limit,
            expired: b.counts.expired,
            revoked: b.counts.revoked,
            network: b.counts.network,
        })
        .collect();
    Chart {
        id,
        title: title.to_owned(),
        summary: format!(
            "{} allowed and {} refused calls in total.",
            total.allowed,
            total.refused()
        ),
        bars,
        ticks,
        x_labels,
        rows,
        total,
        plot_bottom: bottom,
        plot_right: WIDTH - RIGHT,
        left: LEFT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_a_round_top_and_stack_refusals_above() {
        let b = |start, allowed, scope| Bucket {
            start,
            counts: UsageCounts {
                allowed,
                scope,
                ..UsageCounts::default()
            },
        };
        let c = build(
            "t",
            "T",
            &[b(0, 30, 10), b(3_600_000, 0, 0)],
            Granularity::Hour,
        );
        assert_eq!(c.ticks.last().unwrap().label, "40");
        let bar = &c.bars[0];
        assert_eq!(bar.refused_y + bar.refused_h, bar.allowed_y);
        assert_eq!(bar.allowed_y + bar.allowed_h, c.plot_bottom);
        assert_eq!(c.bars[1].allowed_h, 0);
        assert_eq!(c.rows[0].label, "1970-01-01 00:00");
        assert_eq!(step(7), 2);
        assert_eq!(step(1000), 500);
    }
}
