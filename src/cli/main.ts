#!/usr/bin/env node
import { isStarlingError } from '../shared/index.js';
import { dispatch } from './tree.js';

dispatch(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (isStarlingError(err)) {
      console.error(`error: ${err.message}`);
      if (err.hint) console.error(`hint: ${err.hint}`);
      process.exitCode = err.fault === 'user' ? 2 : 1;
    } else {
      console.error(err);
      process.exitCode = 1;
    }
  },
);
