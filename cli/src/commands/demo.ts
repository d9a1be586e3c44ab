import type { Command } from "commander";

/**
 * `fleetnet demo`: the one-command tour on an embedded lab fleet (issue 8). Until the
 * rollout engine lands it says plainly which parts of the tour exist and exits 0, so the
 * README's first command always runs.
 */
export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("Run the end-to-end demo on an embedded lab fleet (placeholder until rollouts land)")
    .option("--keep", "keep the lab and the stack running afterwards")
    .action(() => {
      process.stdout.write(
        [
          "fleetnet demo: the full tour (lab → plan → staged rollout → proofs → teardown) is not built yet.",
          "It needs the rollout engine (issue 6); until then try the parts that exist:",
          "  pnpm --silent fleetnet validate -f examples/kinds/vxlan",
          "  pnpm --silent fleetnet plan --assume-empty -f examples/kinds/vxlan",
          "  pnpm --silent fleetnet lab up --hosts 4   (root)   …   pnpm --silent fleetnet lab down",
          "",
        ].join("\n"),
      );
    });
}
