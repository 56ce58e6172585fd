/**
 * `kubekv version`: the CLI's version, the Node.js running it and the
 * platform. Makes no request and loads no Kubernetes client (kubectl's
 * `version --client`); the API server's version is `kubectl version`'s job.
 *
 * @module
 */
import { KUBEKV_VERSION } from '../../kube/user-agent.js';
import type { Command } from '../command.js';
import { renderFields } from '../output.js';

/** What `version -o json` prints. */
export interface VersionView {
  /** kubekv's version (package.json). */
  kubekv: string;
  /** The Node.js running it, e.g. `v24.1.0`. */
  node: string;
  /** `<os>/<arch>`, as in kubekv's User-Agent. */
  platform: string;
}

/** `kubekv version`. */
export const versionCommand: Command = {
  name: 'version',
  options: [],
  positionals: [],
  summary: "print kubekv's version, and the Node.js and platform it runs on",
  async run(ctx) {
    const view: VersionView = { kubekv: KUBEKV_VERSION, node: process.version, platform: `${process.platform}/${process.arch}` };
    await ctx.print(view, () =>
      renderFields([
        ['kubekv', view.kubekv],
        ['Node.js', view.node],
        ['Platform', view.platform],
      ]),
    );
  },
};
