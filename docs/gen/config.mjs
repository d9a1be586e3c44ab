#!/usr/bin/env node
// Prints the markdown table of the environment variables @fleetnet/runtime reads, from its
// CONFIG_VARIABLES. Regenerate the table in docs/CONFIGURATION.md with:
//   pnpm exec tsc -b libs/runtime && node docs/gen/config.mjs
// (the output goes between the "BEGIN/END generated" markers of that file).
import { CONFIG_VARIABLES } from "../../libs/runtime/dist/index.js";

const cell = (s) => String(s).replaceAll("|", "\\|").replaceAll("\n", " ");
const lines = ["| variable | default | expected | meaning |", "|---|---|---|---|"];
for (const v of CONFIG_VARIABLES) {
  const def = v.default === undefined ? "—" : `\`${cell(v.default)}\``;
  lines.push(`| \`${v.name}\` | ${def} | ${cell(v.expected)} | ${cell(v.description)} |`);
}
process.stdout.write(`${lines.join("\n")}\n`);
