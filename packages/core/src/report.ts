import type { Claim } from './claims.js';

/** A table: column names and rows of cells. */
export interface Table {
  columns: string[];
  rows: Array<Array<string | number | boolean | null>>;
}

/** One section of a report: text, a table and/or a Vega-Lite plot. */
export interface ReportSection {
  title: string;
  text?: string;
  table?: Table;
  /** A Vega-Lite spec (data inline); rendered to SVG in Node. */
  plot?: Record<string, unknown>;
}

/** A run's report: claims first, then sections. */
export interface Report {
  title: string;
  intro?: string;
  claims?: Claim[];
  sections: ReportSection[];
  /** Links to other reports (the tour links each technique's). */
  links?: Array<{ label: string; href: string }>;
}

/** Renders a Vega-Lite spec to an SVG string without a browser. */
export async function renderVegaLiteSvg(spec: Record<string, unknown>): Promise<string> {
  const vl = await import('vega-lite');
  const vega = await import('vega');
  const compiled = vl.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

function fmt(cell: string | number | boolean | null): string {
  if (cell === null) return '—';
  if (typeof cell === 'number') {
    if (Number.isInteger(cell) || !Number.isFinite(cell)) return String(cell);
    return Math.abs(cell) >= 100 ? cell.toFixed(1) : String(Number(cell.toPrecision(4)));
  }
  return String(cell);
}

/** A cell's text made safe inside a Markdown table row: `|` escaped, line breaks as spaces. */
function markdownCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** A Markdown table (cells containing `|` or line breaks are escaped so the columns stay aligned). */
export function markdownTable(table: Table): string {
  const head = `| ${table.columns.map(markdownCell).join(' | ')} |`;
  const sep = `| ${table.columns.map(() => '---').join(' | ')} |`;
  const rows = table.rows.map((r) => `| ${r.map((c) => markdownCell(fmt(c))).join(' | ')} |`);
  return [head, sep, ...rows].join('\n');
}

/** The claims table (id, statement, measured, threshold, holds, seeds). */
export function claimsTable(claims: Claim[]): Table {
  return {
    columns: ['claim', 'statement', 'measured', 'threshold', 'holds', 'seeds'],
    rows: claims.map((c) => [c.id, c.statement + (c.detail ? ` (${c.detail})` : ''), c.measured, `${c.comparator} ${c.threshold}`, c.holds ? 'yes' : 'NO', c.seeds.join(',')]),
  };
}

/** Text made safe in HTML content and in a double-quoted attribute (a `"` in a link's href ended the attribute). */
function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function htmlTable(table: Table): string {
  return `<table><thead><tr>${table.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>${table.rows
    .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(fmt(c))}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/**
 * Renders a report to Markdown (plots as SVG files beside it) and self-contained HTML (inline SVG).
 * Returns the texts and the SVGs by file name.
 */
export async function renderReport(report: Report): Promise<{ markdown: string; html: string; svgs: Record<string, string> }> {
  const md: string[] = [`# ${report.title}`, ''];
  const html: string[] = [`<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(report.title)}</title>`,
    '<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f4f4f4}</style></head><body>',
    `<h1>${escapeHtml(report.title)}</h1>`];
  const svgs: Record<string, string> = {};
  if (report.intro) {
    md.push(report.intro, '');
    html.push(`<p>${escapeHtml(report.intro)}</p>`);
  }
  if (report.claims && report.claims.length) {
    const t = claimsTable(report.claims);
    md.push('## Claims', '', markdownTable(t), '');
    html.push('<h2>Claims</h2>', htmlTable(t));
  }
  if (report.links && report.links.length) {
    md.push('## Reports', '', ...report.links.map((l) => `- [${l.label}](${l.href})`), '');
    html.push('<h2>Reports</h2><ul>', ...report.links.map((l) => `<li><a href="${escapeHtml(l.href)}">${escapeHtml(l.label)}</a></li>`), '</ul>');
  }
  let n = 0;
  for (const s of report.sections) {
    md.push(`## ${s.title}`, '');
    html.push(`<h2>${escapeHtml(s.title)}</h2>`);
    if (s.text) {
      md.push(s.text, '');
      html.push(`<p>${escapeHtml(s.text)}</p>`);
    }
    if (s.table) {
      md.push(markdownTable(s.table), '');
      html.push(htmlTable(s.table));
    }
    if (s.plot) {
      const file = `plot-${++n}.svg`;
      const svg = await renderVegaLiteSvg(s.plot);
      svgs[file] = svg;
      md.push(`![${s.title}](${file})`, '');
      html.push(`<figure>${svg}</figure>`);
    }
  }
  html.push('</body></html>');
  return { markdown: md.join('\n'), html: html.join('\n'), svgs };
}
