// The one way the page builds DOM nodes: properties set as such, text never parsed as HTML.

export function element(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of [].concat(children)) node.append(child);
  return node;
}
