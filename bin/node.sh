# Sourced by bin/megachat and bin/megachat-bootstrap, with $here set to this directory: sets $node to the
# Node.js to run MegaChat on. libp2p 3 needs Node >= 22, so the project brings its own Node 24 (the "node"
# devDependency): in a clone of the project (npm start, npx megachat, npm link, npm install -g .) that one
# runs, whatever Node is on PATH. Installed as a package, the first node on PATH runs (npx and npm scripts
# put the installing project's node_modules/.bin first); one that is too old says so in one line.
node="$here/../node_modules/.bin/node"
[ -x "$node" ] || node=node
