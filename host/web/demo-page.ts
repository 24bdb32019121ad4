// The demo page's HTML (served at / by `wstor web`): a shell that loads demo.js, which builds the rest.
import { IMPORT_MAP } from './vendor.js';

export function demoPageHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${IMPORT_MAP}
<link rel="icon" href="data:,">
<title>wstor loading</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 58rem; padding: 0 1rem; color: #222; }
  button { font: inherit; margin: 0 .4rem .4rem 0; }
  #log { background: #f4f4f4; padding: .6rem; white-space: pre-wrap; min-height: 6rem; font: 13px/1.4 ui-monospace, monospace; }
  table { border-collapse: collapse; margin: .6rem 0; } td, th { border: 1px solid #ccc; padding: .2rem .6rem; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  .error { color: #b00020; }
</style>
</head>
<body>
<h1>wstor in the browser</h1>
<p id="status">loading…</p>
<div id="controls"></div>
<h2>Blobs</h2>
<table id="blobs"></table>
<h2>Rates</h2>
<table id="rates"></table>
<h2>Log</h2>
<div id="log"></div>
<script type="module" src="/host/web/demo.js"></script>
</body>
</html>
`;
}
