// What one bench run shares between its parts.

export interface Ctx {
  /** four characters naming this run */
  runId: string;
  /** `bench-<run id>-`: everything the run makes is named so */
  prefix: string;
  /** this run's temporary directory (rig files, the snapshot of rig) */
  tmp: string;
  /** the node count of each rig or project made by the macro benchmark, by name */
  sizeOf: Map<string, number>;
  /** rig's base image (rig/base:<hash>), which bare and compose use too */
  image: string;
  /** failed macro runs so far */
  failures: number;
}
