//! The report's chart: req/s as grouped bars, one group per concurrency and
//! one bar per server, written as plain SVG text (no fonts or scripts to
//! load, so it renders the same on GitHub and in a browser).

use std::fmt::Write as _;

use crate::{Rows, SERVERS};

const WIDTH: f64 = 820.0;
const HEIGHT: f64 = 460.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 120.0;
const BOTTOM: f64 = 50.0;
/// One colour per server, in [`SERVERS`] order (Tableau 10).
const COLOURS: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
];

/// The whole SVG document.
pub fn grouped_bars(title: &str, concurrencies: &[u32], rows: &Rows) -> String {
    let max = rows.values().map(|row| row.run.rps).fold(0.0, f64::max);
    let (top, step) = axis(max);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let y = |value: f64| TOP + plot_height * (1.0 - value / top);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>
<text x="{}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    legend(&mut svg);

    // Grid lines and their labels.
    let mut tick = 0.0;
    while tick <= top + step / 2.0 {
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(tick) + 4.0,
            short(tick),
            y = y(tick),
        );
        tick += step;
    }
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">req/s</text>"#,
        TOP + plot_height / 2.0
    );

    // The bars, a group per concurrency.
    let group_width = plot_width / concurrencies.len().max(1) as f64;
    let bar_width = group_width * 0.8 / SERVERS.len() as f64;
    for (group, &concurrency) in concurrencies.iter().enumerate() {
        let group_left = LEFT + group_width * group as f64 + group_width * 0.1;
        for (index, (id, label)) in SERVERS.iter().enumerate() {
            let Some(row) = rows.get(&(id.to_string(), concurrency)) else {
                continue;
            };
            let x = group_left + bar_width * index as f64;
            let top_y = y(row.run.rps);
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{top_y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}, c={concurrency}: {:.0} req/s</title></rect>
<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                bar_width - 2.0,
                TOP + plot_height - top_y,
                COLOURS[index],
                escape(label),
                row.run.rps,
                x + (bar_width - 2.0) / 2.0,
                top_y - 3.0,
                short(row.run.rps),
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">c = {concurrency}</text>"#,
            group_left + group_width * 0.4,
            HEIGHT - BOTTOM + 20.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<line x1="{LEFT}" x2="{}" y1="{}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">concurrent connections (wrk -c)</text>
</svg>"#,
        WIDTH - RIGHT,
        TOP + plot_height,
        TOP + plot_height,
        LEFT + plot_width / 2.0,
        HEIGHT - 10.0
    );
    svg
}

/// The server colours and labels, in two columns under the title (three
/// rows, above [`TOP`]).
fn legend(svg: &mut String) {
    for (index, (_, label)) in SERVERS.iter().enumerate() {
        let x = LEFT + (index % 2) as f64 * 340.0;
        let y = 42.0 + (index / 2) as f64 * 18.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{y}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            COLOURS[index],
            x + 18.0,
            y + 10.0,
            escape(label)
        );
    }
}

/// The axis maximum and tick step: a round step (1, 2 or 5 times a power
/// of ten) giving at most 6 ticks above zero.
fn axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 1.0);
    }
    let raw = max / 6.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * power)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * power);
    ((max / step).ceil() * step, step)
}

/// 41152 -> "41.2k", 40000 -> "40k", 950 -> "950".
fn short(value: f64) -> String {
    let text = if value >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else {
        return format!("{value:.0}");
    };
    text.replace(".0", "")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_is_round_and_covers_the_maximum() {
        // 41152 / 6 = 6859: the next round step is 10000.
        assert_eq!(axis(41_152.0), (50_000.0, 10_000.0));
        assert_eq!(axis(950.0), (1_000.0, 200.0));
        assert_eq!(axis(0.0), (1.0, 1.0));
    }

    #[test]
    fn labels_are_short() {
        assert_eq!(short(41_152.0), "41.2k");
        assert_eq!(short(40_000.0), "40k");
        assert_eq!(short(2_000_000.0), "2M");
        assert_eq!(short(950.0), "950");
    }
}
