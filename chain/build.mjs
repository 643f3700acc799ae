// Compiles contracts/Gen1.sol with solc-js (offline) into artifacts/Gen1.json: the ABI, the
// creation and runtime bytecode, and the compiler and settings that made them. Same sources,
// same compiler, same settings: the same bytes (tests/unit/test_chain_build.py recompiles and
// compares).  Usage: node build.mjs [output-file]   (default artifacts/Gen1.json)
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");
const here = dirname(fileURLToPath(import.meta.url));

const SOURCE = "contracts/Gen1.sol";
export const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  // the newest fork every target chain (Base, Base Sepolia, anvil) runs
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

// Imports resolve from this folder's node_modules (@openzeppelin/contracts), nowhere else.
function findImports(path) {
  try {
    return { contents: readFileSync(join(here, "node_modules", path), "utf8") };
  } catch {
    return { error: `import not found: ${path}` };
  }
}

const input = {
  language: "Solidity",
  sources: { [SOURCE]: { content: readFileSync(join(here, SOURCE), "utf8") } },
  settings: SETTINGS,
};
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors ?? []).filter((e) => e.severity === "error");
for (const e of output.errors ?? []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

const contract = output.contracts[SOURCE].Gen1;
const openzeppelin = JSON.parse(
  readFileSync(join(here, "node_modules/@openzeppelin/contracts/package.json"), "utf8"),
);
const artifact = {
  contractName: "Gen1",
  source: SOURCE,
  compiler: `solc-js ${solc.version()}`,
  openzeppelin: openzeppelin.version,
  settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion },
  abi: contract.abi,
  bytecode: `0x${contract.evm.bytecode.object}`,
  deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
};
const out = process.argv[2] ?? join(here, "artifacts/Gen1.json");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(artifact, null, 2)}\n`);
console.log(`${out}: ${artifact.compiler}, ${(artifact.bytecode.length - 2) / 2} bytes of creation code`);
