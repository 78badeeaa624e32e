// Prints the datamodel part of a Prisma schema's DMMF, parsed by Prisma's own schema parser.
// Usage (from the folder holding node_modules): node dmmf.mjs path/to/schema.prisma
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), "package.json"));
const wasm = require("@prisma/prisma-schema-wasm");

const path = process.argv[2];
const params = JSON.stringify({ prismaSchema: [[path, readFileSync(path, "utf8")]] });
try {
  process.stdout.write(JSON.stringify(JSON.parse(wasm.get_dmmf(params)).datamodel));
} catch (error) {
  // The parser's own validation message (JSON with the schema excerpt), without a stack trace.
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
