//! A dependency-free SVG chart of the threshold curve: quality vs all-cloud
//! (y) against cost vs all-cloud (x), both in percent from 0 to 100 (an axis
//! grows in steps of 10% when a value exceeds 100%), with gridlines, ticks,
//! the curve as one polyline with a dot per point, a threshold label every
//! few points, and a labelled diamond for each operating point given (for
//! example the configured thresholds and the calibrated ones).

use crate::sim::{CurvePoint, Summary};

/// A marked point on the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatingPoint {
    pub label: String,
    pub cost_vs_cloud: f64,
    pub quality_vs_cloud: f64,
}

impl OperatingPoint {
    /// The operating point of a simulated workload.
    pub fn from_summary(label: &str, summary: &Summary) -> Self {
        Self {
            label: label.to_string(),
            cost_vs_cloud: summary.overall.cost_vs_cloud,
            quality_vs_cloud: summary.overall.quality_vs_cloud,
        }
    }
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 610.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 420.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The axis maximum in percent: 100, or the next multiple of 10 above the
/// largest finite value.
fn axis_max(values: impl Iterator<Item = f64>) -> f64 {
    let top = values.filter(|v| v.is_finite()).fold(100.0, f64::max);
    ((top / 10.0).ceil() * 10.0).min(10_000.0)
}

/// The SVG document (see the module docs).
pub fn svg(curve: &[CurvePoint], title: &str, operating: &[OperatingPoint]) -> String {
    let xs = curve
        .iter()
        .map(|p| p.cost_vs_cloud)
        .chain(operating.iter().map(|o| o.cost_vs_cloud));
    let ys = curve
        .iter()
        .map(|p| p.quality_vs_cloud)
        .chain(operating.iter().map(|o| o.quality_vs_cloud));
    let x_max = axis_max(xs.map(|v| v * 100.0));
    let y_max = axis_max(ys.map(|v| v * 100.0));
    let px = |v: f64| LEFT + v * 100.0 / x_max * (RIGHT - LEFT);
    let py = |v: f64| BOTTOM - v * 100.0 / y_max * (BOTTOM - TOP);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">{}</text>\n",
        WIDTH / 2.0,
        escape(title)
    );
    for (max, vertical) in [(x_max, true), (y_max, false)] {
        let step = 10.0 * (max / 100.0).ceil();
        let mut v = 0.0;
        while v <= max + 1e-9 {
            let (x1, y1, x2, y2, lx, ly, anchor) = if vertical {
                let x = LEFT + v / max * (RIGHT - LEFT);
                (x, TOP, x, BOTTOM + 5.0, x, BOTTOM + 20.0, "middle")
            } else {
                let y = BOTTOM - v / max * (BOTTOM - TOP);
                (LEFT - 5.0, y, RIGHT, y, LEFT - 8.0, y + 4.0, "end")
            };
            out.push_str(&format!(
                "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"#ddd\"/>\n\
                 <text x=\"{lx:.1}\" y=\"{ly:.1}\" text-anchor=\"{anchor}\">{v:.0}%</text>\n"
            ));
            v += step;
        }
    }
    out.push_str(&format!(
        "<line x1=\"{LEFT}\" y1=\"{BOTTOM}\" x2=\"{RIGHT}\" y2=\"{BOTTOM}\" stroke=\"black\"/>\n\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{BOTTOM}\" stroke=\"black\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">cost vs all-cloud</text>\n\
         <text x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">quality vs all-cloud</text>\n",
        (LEFT + RIGHT) / 2.0,
        HEIGHT - 20.0,
        (TOP + BOTTOM) / 2.0,
        (TOP + BOTTOM) / 2.0,
    ));
    let shown: Vec<&CurvePoint> = curve
        .iter()
        .filter(|p| p.cost_vs_cloud.is_finite() && p.quality_vs_cloud.is_finite())
        .collect();
    let points: Vec<String> = shown
        .iter()
        .map(|p| format!("{:.1},{:.1}", px(p.cost_vs_cloud), py(p.quality_vs_cloud)))
        .collect();
    out.push_str(&format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n",
        points.join(" ")
    ));
    let every = shown.len().div_ceil(6).max(1);
    for (i, p) in shown.iter().enumerate() {
        let (x, y) = (px(p.cost_vs_cloud), py(p.quality_vs_cloud));
        out.push_str(&format!(
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"#1f77b4\"/>\n"
        ));
        if i % every == 0 || i + 1 == shown.len() {
            out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#555\">t={:.2}</text>\n",
                x + 5.0,
                y - 6.0,
                p.threshold
            ));
        }
    }
    for o in operating {
        if !(o.cost_vs_cloud.is_finite() && o.quality_vs_cloud.is_finite()) {
            continue;
        }
        let (x, y) = (px(o.cost_vs_cloud), py(o.quality_vs_cloud));
        out.push_str(&format!(
            "<polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"#d62728\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d62728\">{}</text>\n",
            x,
            y - 7.0,
            x + 7.0,
            y,
            x,
            y + 7.0,
            x - 7.0,
            y,
            x + 9.0,
            y + 16.0,
            escape(&o.label)
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(n: usize) -> Vec<CurvePoint> {
        (0..=n)
            .map(|i| {
                let t = i as f64 / n as f64;
                CurvePoint {
                    threshold: t,
                    local_share: 1.0 - t,
                    quality_vs_cloud: 0.7 + 0.3 * t,
                    cost_vs_cloud: 0.1 + 0.9 * t,
                }
            })
            .collect()
    }

    #[test]
    fn is_well_formed_ish() {
        let op = OperatingPoint {
            label: "configured <now>".into(),
            cost_vs_cloud: 0.4,
            quality_vs_cloud: 0.97,
        };
        let s = svg(&points(20), "tierlm & co", &[op]);
        assert!(s.starts_with("<svg"));
        assert!(s.ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 1);
        assert_eq!(s.matches("<circle").count(), 21);
        assert!(s.contains("tierlm &amp; co"));
        assert!(s.contains("configured &lt;now&gt;"));
        assert_eq!(s.matches("<polygon").count(), 1);
        assert!(s.contains("t=0.00") && s.contains("t=1.00"));
        assert!(s.contains(">100%</text>"));
        assert_eq!(s.matches("<svg").count(), 1);
    }

    #[test]
    fn handles_empty_and_odd_curves() {
        let s = svg(&[], "empty", &[]);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 1);
        let mut c = points(4);
        c[1].cost_vs_cloud = f64::INFINITY;
        c[2].quality_vs_cloud = 1.37;
        let s = svg(&c, "odd", &[]);
        assert_eq!(s.matches("<circle").count(), 4);
        assert!(s.contains(">140%</text>"), "axis grows past 100%");
        assert!(!s.contains("inf") && !s.contains("NaN"));
    }
}
