#!/usr/bin/env python3
# Native objects JavaCPP freed through the GC (not by close() or a scope), counted by class, from a run with
# -Dorg.bytedeco.javacpp.logger.debug=true: usage: scripts/javacpp_gc_freed.py LOG
import re,collections,sys
live={}; gc=collections.Counter()
for line in open(sys.argv[1],errors='replace'):
    m=re.match(r'Debug: Registering (org\.bytedeco\.[\w.$]+)\[.*?ownerAddress=(0x[0-9a-f]+)',line)
    if m: live[m.group(2)]=m.group(1); continue
    m=re.match(r'Debug: Releasing .*?ownerAddress=(0x[0-9a-f]+)',line)
    if m: live.pop(m.group(1),None); continue
    m=re.match(r'Debug: Collecting .*?ownerAddress=(0x[0-9a-f]+)',line)
    if m and m.group(1)!='0x0':
        gc[live.pop(m.group(1),'?')]+=1
print('gc-freed',sum(gc.values()), gc.most_common(12)); print('live at end', len(live), collections.Counter(live.values()).most_common(12))
