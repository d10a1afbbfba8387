//! The FinOps report as one self-contained HTML page: no network, no external file. The
//! tables are written here; the charts are drawn as inline SVG by a small script from the
//! report's own JSON, embedded in the page, so the page and `report.json` cannot disagree.
//!
//! Every number cell carries its exact value in `data-value`, and every chart mark its value
//! in `data-value`, so a browser test can compare what is shown with the JSON report.

use std::fmt::Write;

use crate::Result;
use crate::finops::{FinopsReport, Group};
use crate::text::{count, gib, usd};

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number cell: the formatted value, the exact one in `data-value`.
fn num(out: &mut String, field: &str, exact: &str, shown: &str) {
    let _ = write!(
        out,
        "<td class=\"num\" data-field=\"{field}\" data-value=\"{}\">{}</td>",
        esc(exact),
        esc(shown)
    );
}

/// What Inspector can vouch for, per registry account and region: `stale` and `never_used`
/// judge only images covered `ACTIVE`.
fn inspector_table(out: &mut String, rows: &[crate::summary::InspectorCoverage]) {
    out.push_str(
        "<section><h2>Inspector coverage</h2><p class=\"note\">The usage rules (stale, \
         never_used) judge only images Inspector still monitors (coverage ACTIVE); inactive \
         or missing coverage leaves an image's use unknown to them.</p>\
         <table id=\"inspector_coverage\"><thead><tr><th>registry</th><th>images</th>\
         <th>active</th><th>inactive</th><th>expired</th><th>no coverage</th>\
         <th>rescan settings</th></tr></thead><tbody>",
    );
    for c in rows {
        let key = format!("{}/{}", c.account_id, c.region);
        let _ = write!(
            out,
            "<tr data-key=\"{}\"><td class=\"key\">{}</td>",
            esc(&key),
            esc(&key)
        );
        for (field, v) in [
            ("images", c.images),
            ("active", c.active),
            ("inactive", c.inactive),
            ("expired", c.expired),
            ("no_coverage", c.no_coverage),
        ] {
            num(out, field, &v.to_string(), &count(v));
        }
        let _ = write!(out, "<td>{}</td></tr>", esc(&c.settings()));
    }
    out.push_str("</tbody></table></section>");
}

fn group_table(out: &mut String, id: &str, title: &str, groups: &[Group], freed: bool) {
    let _ = write!(
        out,
        "<section><h2>{}</h2><table id=\"{id}\"><thead><tr><th>{}</th><th>images</th>\
         <th>GiB</th><th>USD / month</th><th>USD / year</th>{}<th>not opted in</th></tr>\
         </thead><tbody>",
        esc(title),
        esc(match id {
            "by_rule" => "rule",
            "by_account" => "account",
            "by_region" => "region",
            "by_owner" => "owner",
            "protected_by_reason" => "guard",
            _ => "repository",
        }),
        if freed { "<th>freed GiB</th>" } else { "" }
    );
    if groups.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"7\" class=\"empty\">nothing flagged</td></tr>"
        );
    }
    for g in groups {
        let _ = write!(
            out,
            "<tr data-key=\"{}\"><td class=\"key\">{}</td>",
            esc(&g.key),
            esc(&g.key)
        );
        num(out, "images", &g.images.to_string(), &count(g.images));
        num(
            out,
            "bytes",
            &g.bytes.to_string(),
            gib(g.bytes).trim_end_matches(" GiB"),
        );
        num(
            out,
            "monthly_usd",
            &g.monthly_usd.to_string(),
            &usd(g.monthly_usd),
        );
        num(
            out,
            "yearly_usd",
            &g.yearly_usd.to_string(),
            &usd(g.yearly_usd),
        );
        if freed {
            match g.freed_bytes {
                Some(f) => num(
                    out,
                    "freed_bytes",
                    &f.to_string(),
                    gib(f).trim_end_matches(" GiB"),
                ),
                None => out.push_str("<td class=\"num na\" data-field=\"freed_bytes\">n/a</td>"),
            }
        }
        num(
            out,
            "not_opted_in_images",
            &g.not_opted_in_images.to_string(),
            &count(g.not_opted_in_images),
        );
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>");
}

fn card(out: &mut String, id: &str, title: &str, value: &str, exact: &str, note: &str) {
    let _ = write!(
        out,
        "<div class=\"card\" id=\"{id}\"><div class=\"title\">{}</div>\
         <div class=\"value\" data-value=\"{}\">{}</div><div class=\"note\">{}</div></div>",
        esc(title),
        esc(exact),
        esc(value),
        esc(note)
    );
}

/// Renders the page.
pub fn render(r: &FinopsReport) -> Result<String> {
    // `</` never appears inside the script element, whatever a repository is called.
    let data = serde_json::to_string(r)?.replace("</", "<\\/");
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>ecrgc report: {run}</title><style>{STYLE}</style></head><body>\
         <header><h1>ECR savings report</h1><p>Run <code>{run}</code>, snapshot {snap}, \
         planned for {now}. Prices: {price} per GiB-month standard, {archive} archive \
         ({days}-day minimum).</p></header><main>",
        run = esc(&r.run_id),
        snap = esc(&r.snapshot_time),
        now = esc(&r.now),
        price = esc(&usd(r.pricing.storage_gb_month)),
        archive = esc(&usd(r.pricing.archive_gb_month)),
        days = r.pricing.archive_minimum_days,
    );
    out.push_str("<section class=\"cards\">");
    card(
        &mut out,
        "card-stored",
        "Stored",
        &gib(r.stored.bytes),
        &r.stored.bytes.to_string(),
        &format!(
            "{} images, {} a month",
            count(r.stored.images),
            usd(r.stored.monthly_usd)
        ),
    );
    card(
        &mut out,
        "card-manifest",
        "In the manifest",
        &gib(r.delete.bytes),
        &r.delete.bytes.to_string(),
        &format!("{} images", count(r.delete.images)),
    );
    card(
        &mut out,
        "card-monthly",
        "Deleting saves a month",
        &usd(r.savings.delete_monthly_usd),
        &r.savings.delete_monthly_usd.to_string(),
        &format!("{} a year", usd(r.savings.delete_yearly_usd)),
    );
    match r.savings.freed_bytes {
        Some(f) => card(
            &mut out,
            "card-freed",
            "Freed after layer sharing",
            &gib(f),
            &f.to_string(),
            &format!(
                "{} a month",
                usd(r.savings.freed_monthly_usd.unwrap_or_default())
            ),
        ),
        None => card(
            &mut out,
            "card-freed",
            "Freed after layer sharing",
            "unknown",
            "",
            &format!(
                "layers known for {} of {} repositories (collect --layers)",
                r.layers.repositories_with_layers, r.layers.repositories
            ),
        ),
    }
    card(
        &mut out,
        "card-archive",
        "Archiving instead saves a month",
        &usd(r.savings.archive_monthly_usd),
        &r.savings.archive_monthly_usd.to_string(),
        &format!(
            "archive costs {} a month, at least {} per image set",
            usd(r.savings.archive_monthly_cost_usd),
            usd(r.savings.archive_minimum_charge_usd)
        ),
    );
    card(
        &mut out,
        "card-not-opted-in",
        "Flagged, not opted in",
        &gib(r.not_opted_in.bytes),
        &r.not_opted_in.bytes.to_string(),
        &format!(
            "{} images, {} a month",
            count(r.not_opted_in.images),
            usd(r.not_opted_in.monthly_usd)
        ),
    );
    out.push_str("</section>");

    out.push_str(
        "<section class=\"charts\">\
         <figure class=\"chart\" data-chart=\"by_rule\"><figcaption>Manifest bytes by rule</figcaption></figure>\
         <figure class=\"chart\" data-chart=\"by_owner\"><figcaption>Manifest bytes by owner</figcaption></figure>\
         <figure class=\"chart\" data-chart=\"by_account\"><figcaption>Manifest bytes by account</figcaption></figure>\
         <figure class=\"chart\" data-chart=\"top_repositories\"><figcaption>Top repositories</figcaption></figure>\
         <figure class=\"chart wide\" data-chart=\"trend\"><figcaption>Stored, unused and candidate bytes per night</figcaption></figure>\
         </section>",
    );

    let freed = r.layers.repositories_with_layers > 0;
    group_table(&mut out, "by_rule", "By rule", &r.by_rule, false);
    group_table(&mut out, "by_account", "By account", &r.by_account, freed);
    group_table(&mut out, "by_region", "By region", &r.by_region, freed);
    group_table(
        &mut out,
        "by_owner",
        &format!("By owner (repository tag \u{201c}{}\u{201d})", r.owner_tag),
        &r.by_owner,
        freed,
    );
    group_table(
        &mut out,
        "top_repositories",
        "Top repositories",
        &r.top_repositories,
        freed,
    );
    group_table(
        &mut out,
        "protected_by_reason",
        "Flagged but kept, by guard",
        &r.protected_by_reason,
        false,
    );

    out.push_str(
        "<section><h2>Trend</h2><table id=\"trend\"><thead><tr><th>snapshot</th>\
         <th>stored GiB</th><th>unused GiB</th><th>candidates</th><th>candidate GiB</th>\
         </tr></thead><tbody>",
    );
    for t in &r.trend {
        let _ = write!(
            out,
            "<tr data-key=\"{}\"><td class=\"key\">{}</td>",
            esc(&t.run_id),
            esc(&t.snapshot_time)
        );
        for (field, v, shown) in [
            (
                "stored_bytes",
                t.stored_bytes,
                gib(t.stored_bytes).trim_end_matches(" GiB").to_owned(),
            ),
            (
                "unused_bytes",
                t.unused_bytes,
                gib(t.unused_bytes).trim_end_matches(" GiB").to_owned(),
            ),
            (
                "candidate_images",
                t.candidate_images,
                count(t.candidate_images),
            ),
            (
                "candidate_bytes",
                t.candidate_bytes,
                gib(t.candidate_bytes).trim_end_matches(" GiB").to_owned(),
            ),
        ] {
            num(&mut out, field, &v.to_string(), &shown);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>");
    inspector_table(&mut out, &r.inspector_coverage);
    out.push_str("</main>");
    let _ = writeln!(
        out,
        "<script type=\"application/json\" id=\"report-data\">{data}</script>\
         <script>{SCRIPT}</script></body></html>"
    );
    Ok(out)
}

const STYLE: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
header{background:#232f3e;color:#fff;padding:16px 24px}header h1{margin:0 0 4px;font-size:20px}\
header p{margin:0;opacity:.85}main{padding:16px 24px}code{font-size:12px}\
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border-radius:6px;padding:12px 16px;\
min-width:180px;box-shadow:0 1px 2px rgba(0,0,0,.1)}.card .title{font-size:12px;color:#5f6b7a}\
.card .value{font-size:22px;font-weight:600}.card .note{font-size:12px;color:#5f6b7a}\
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px;margin:16px 0}\
.chart{background:#fff;margin:0;padding:8px 12px;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.1)}\
.chart.wide{grid-column:1/-1}figcaption{font-weight:600;margin-bottom:4px}\
section h2{font-size:16px;margin:20px 0 6px}table{border-collapse:collapse;background:#fff;width:100%}\
th,td{padding:4px 8px;border-bottom:1px solid #e3e6ea;text-align:left}td.num{text-align:right;\
font-variant-numeric:tabular-nums}td.key{word-break:break-all}.empty,.na{color:#8a94a3}\
.bar{fill:#ff9900}.series-stored_bytes{stroke:#232f3e}.series-unused_bytes{stroke:#d13212}\
.series-candidate_bytes{stroke:#ff9900}.legend text,.axis text{font-size:11px;fill:#5f6b7a}";

/// Draws the charts from the embedded JSON. Marks carry their exact value in `data-value`;
/// when every chart is drawn, `body` gets `data-charts-ready` with the number of charts.
const SCRIPT: &str = r#"
(function () {
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function gib(b) { return (b / 1073741824).toFixed(1); }
  function bars(fig, groups) {
    var rows = groups.filter(function (g) { return g.bytes > 0; }).slice(0, 12);
    var h = 24 * Math.max(rows.length, 1) + 8, w = 600, label = 230;
    var svg = el('svg', {viewBox: '0 0 ' + w + ' ' + h, width: '100%', role: 'img'}, fig);
    var max = Math.max.apply(null, rows.map(function (g) { return g.bytes; }).concat([1]));
    if (!rows.length) {
      var t = el('text', {x: 4, y: 20, 'class': 'empty'}, svg); t.textContent = 'nothing in the manifest';
    }
    rows.forEach(function (g, i) {
      var y = 4 + i * 24, bw = Math.max(1, (w - label - 90) * g.bytes / max);
      var name = el('text', {x: label - 6, y: y + 15, 'text-anchor': 'end'}, svg);
      name.textContent = g.key.length > 34 ? '\u2026' + g.key.slice(-33) : g.key;
      var r = el('rect', {'class': 'bar', x: label, y: y + 2, width: bw, height: 18,
        'data-key': g.key, 'data-value': g.bytes}, svg);
      el('title', {}, r).textContent = g.key + ': ' + gib(g.bytes) + ' GiB';
      var v = el('text', {x: label + bw + 4, y: y + 15}, svg);
      v.textContent = gib(g.bytes) + ' GiB';
    });
  }
  function trend(fig, points) {
    var w = 900, h = 240, left = 90, bottom = 30, top = 10, right = 120;
    var svg = el('svg', {viewBox: '0 0 ' + w + ' ' + h, width: '100%', role: 'img'}, fig);
    var series = ['stored_bytes', 'unused_bytes', 'candidate_bytes'];
    var max = 1;
    points.forEach(function (p) { series.forEach(function (s) { max = Math.max(max, p[s]); }); });
    var n = points.length;
    function x(i) { return left + (n < 2 ? (w - left - right) / 2 : i * (w - left - right) / (n - 1)); }
    function y(v) { return top + (h - top - bottom) * (1 - v / max); }
    var axis = el('g', {'class': 'axis'}, svg);
    el('line', {x1: left, y1: y(0), x2: w - right, y2: y(0), stroke: '#ccd'}, axis);
    var ymax = el('text', {x: left - 4, y: y(max) + 4, 'text-anchor': 'end'}, axis);
    ymax.textContent = gib(max) + ' GiB';
    points.forEach(function (p, i) {
      if (n <= 10 || i % Math.ceil(n / 10) === 0 || i === n - 1) {
        var t = el('text', {x: x(i), y: h - 10, 'text-anchor': 'middle'}, axis);
        t.textContent = p.snapshot_time.slice(0, 10);
      }
    });
    series.forEach(function (s, k) {
      var d = points.map(function (p, i) { return (i ? 'L' : 'M') + x(i) + ' ' + y(p[s]); }).join(' ');
      el('path', {d: d, fill: 'none', 'stroke-width': 2, 'class': 'line series-' + s}, svg);
      points.forEach(function (p, i) {
        var c = el('circle', {cx: x(i), cy: y(p[s]), r: 3, 'class': 'point series-' + s,
          fill: 'currentColor', 'data-series': s, 'data-key': p.run_id, 'data-value': p[s]}, svg);
        el('title', {}, c).textContent = p.snapshot_time + ' ' + s + ': ' + gib(p[s]) + ' GiB';
      });
      var lg = el('g', {'class': 'legend'}, svg);
      el('line', {x1: w - right + 10, x2: w - right + 30, y1: 20 + k * 18, y2: 20 + k * 18,
        'class': 'series-' + s, 'stroke-width': 2}, lg);
      var t = el('text', {x: w - right + 34, y: 24 + k * 18}, lg);
      t.textContent = s.replace('_bytes', '');
    });
  }
  var drawn = 0;
  document.querySelectorAll('figure.chart').forEach(function (fig) {
    var name = fig.getAttribute('data-chart');
    if (name === 'trend') trend(fig, data.trend); else bars(fig, data[name]);
    drawn += 1;
  });
  document.body.setAttribute('data-charts-ready', String(drawn));
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_the_script_cannot_be_closed_early() {
        let r = FinopsReport {
            run_id: "r".into(),
            by_rule: vec![Group {
                key: "</script><b>x".into(),
                images: 1,
                bytes: 10,
                ..Default::default()
            }],
            ..Default::default()
        };
        let page = render(&r).expect("renders");
        assert!(page.contains("&lt;/script&gt;&lt;b&gt;x"));
        assert_eq!(
            page.matches("</script>").count(),
            2,
            "only the two real ends"
        );
        // The one URL is the SVG namespace name, which is never fetched.
        assert_eq!(page.matches("http").count(), 1, "no address to fetch");
        assert!(!page.contains("<link"), "no external stylesheet");
        assert!(!page.contains("src="), "no external script or image");
    }
}
