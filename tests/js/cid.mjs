#!/usr/bin/env node
// Independent reference for Lantern's CIDs: the root CID `ipfs add` (Kubo defaults) gives.
//
// Run:  node tests/js/cid.mjs FILE [FILE ...] [--cid-version 0|1]
// Prints one root CID per line, in argument order. Install first: npm --prefix tests/js ci
//
// Kubo defaults: fixed 256 KiB chunks, balanced DAG of at most 174 links per node, a
// single-chunk file is its own root. --cid-version=1 also switches on raw leaves.
// --chunk-size N and --max-links N change the layout, only so tests can build deep trees
// from small files; the CIDs are then no longer what `ipfs add` gives.
import { createReadStream } from 'node:fs'
import { argv, exit, stderr, stdout } from 'node:process'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { importByteStream } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'

const USAGE = 'usage: node cid.mjs FILE [FILE ...] [--cid-version 0|1] [--chunk-size N] [--max-links N]'

function usage (message) {
  stderr.write(`cid.mjs: ${message}\n${USAGE}\n`)
  exit(2)
}

function parseArgs (args) {
  const options = { paths: [], cidVersion: 0, chunkSize: 262144, maxLinks: 174 }
  const numeric = { '--cid-version': 'cidVersion', '--chunk-size': 'chunkSize', '--max-links': 'maxLinks' }
  for (let i = 0; i < args.length; i++) {
    let arg = args[i]
    let value
    if (arg.startsWith('--') && arg.includes('=')) {
      [arg, value] = arg.split('=', 2)
    }
    if (arg in numeric) {
      value = value ?? args[++i]
      if (!/^[0-9]+$/.test(value ?? '')) usage(`bad ${arg}: ${value}`)
      options[numeric[arg]] = Number(value)
    } else if (arg.startsWith('--')) {
      usage(`unknown option: ${arg}`)
    } else {
      options.paths.push(arg)
    }
  }
  if (options.cidVersion !== 0 && options.cidVersion !== 1) usage('--cid-version must be 0 or 1')
  if (options.chunkSize < 1 || options.maxLinks < 2) usage('--chunk-size >= 1, --max-links >= 2')
  if (options.paths.length === 0) usage('no file given')
  return options
}

async function rootCid (path, { cidVersion, chunkSize, maxLinks }) {
  const result = await importByteStream(createReadStream(path), new MemoryBlockstore(), {
    cidVersion,
    rawLeaves: cidVersion === 1, // what --cid-version=1 implies in Kubo
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize }),
    layout: balanced({ maxChildrenPerNode: maxLinks })
  })
  return result.cid.toString()
}

const options = parseArgs(argv.slice(2))
for (const path of options.paths) {
  stdout.write(`${await rootCid(path, options)}\n`)
}
