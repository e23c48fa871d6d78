// One layout with ELK's layered algorithm: an ELK JSON graph on stdin, the same graph with positions on stdout.
// tools/console/layout.py builds the graph (sizes measured, options set) and reads the answer; this only runs ELK.
import ELK from "elkjs/lib/elk.bundled.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const graph = JSON.parse(Buffer.concat(chunks).toString("utf8"));
process.stdout.write(JSON.stringify(await new ELK().layout(graph)));
