//! Structural checks on the elaborated nets, done while numbering them into the IR: a depth-first
//! walk from every driven net finds reads of undriven nets and combinational loops (naming the
//! nets on the loop); outputs with no driver are reported; inputs nothing reads become warnings.
//! Errors are collected, not returned at the first one.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn resolve(&self, mut n: NetId) -> NetId {
        while let Drv::Alias(m) = self.nets[n as usize].drv {
            n = m;
        }
        n
    }

    /// Number the driven nets in topological order (inputs first), checking for undriven reads
    /// and loops on the way, and build the IR.
    pub(super) fn emit(&mut self, top: &Module, scope: &Scope) -> (Netlist, Vec<Warning>) {
        const UNSEEN: u32 = u32::MAX;
        const ON_STACK: u32 = u32::MAX - 1;
        let mut id: Vec<u32> = vec![UNSEEN; self.nets.len()];
        let mut nodes: Vec<Node> = Vec::new();
        let ports = |kind: DeclKind| -> Vec<(&str, &Sig)> {
            top.ports
                .iter()
                .filter_map(|p| scope.sigs.get(p.name).filter(|s| s.kind == kind).map(|s| (p.name, s)))
                .collect()
        };
        let mut inputs = Vec::new();
        for (name, s) in ports(DeclKind::Input) {
            let mut bits = Vec::new();
            for &n in &s.bits {
                id[n as usize] = nodes.len() as u32;
                bits.push(nodes.len() as NodeId);
                nodes.push(Node { op: Op::Input, fanin: [0; 3], cell: "input".to_string(), name: self.net_name(n) });
            }
            inputs.push(Port { name: name.to_string(), bits });
        }
        let mut undriven_reported = vec![false; 0];
        undriven_reported.resize(self.nets.len(), false);
        let mut stack: Vec<(NetId, u8)> = Vec::new();
        for root in 0..self.nets.len() as NetId {
            if id[root as usize] != UNSEEN || matches!(self.nets[root as usize].drv, Drv::None | Drv::Alias(_)) {
                continue;
            }
            stack.push((root, 0));
            id[root as usize] = ON_STACK;
            while let Some(&mut (n, ref mut k)) = stack.last_mut() {
                let (op, fanin) = match self.nets[n as usize].drv {
                    Drv::Gate { op, fanin, .. } => (op, fanin),
                    _ => (Op::Const0, [0; 3]),
                };
                if (*k as usize) < op.arity() {
                    let f = self.resolve(fanin[*k as usize]);
                    *k += 1;
                    match id[f as usize] {
                        UNSEEN
                            if self.nets[f as usize].drv == Drv::None
                                && !undriven_reported[f as usize]
                                && !self.item_failed =>
                        {
                            undriven_reported[f as usize] = true;
                            let at = self.nets[f as usize].use_loc.unwrap_or(self.nets[n as usize].drv_loc);
                            self.errors.push(NetlistError::UndrivenNet { span: self.span(at), net: self.net_name(f) });
                        }
                        UNSEEN if self.nets[f as usize].drv == Drv::None => {}
                        UNSEEN => {
                            id[f as usize] = ON_STACK;
                            stack.push((f, 0));
                        }
                        ON_STACK => {
                            let start = stack.iter().position(|&(m, _)| m == f).unwrap_or(0);
                            let mut nets: Vec<String> = stack[start..].iter().map(|&(m, _)| self.net_name(m)).collect();
                            nets.push(self.net_name(f));
                            let at = self.nets[f as usize].drv_loc;
                            self.errors.push(NetlistError::CombinationalLoop { span: self.span(at), nets });
                        }
                        _ => {}
                    }
                    continue;
                }
                stack.pop();
                id[n as usize] = nodes.len() as u32;
                let net = &self.nets[n as usize];
                let (op, cell, fanin) = match net.drv {
                    Drv::Const(false) => (Op::Const0, "const", [0; 3]),
                    Drv::Const(true) => (Op::Const1, "const", [0; 3]),
                    Drv::Gate { op, fanin, cell } => (op, cell, fanin),
                    Drv::Input => (Op::Input, "input", [0; 3]),
                    Drv::None | Drv::Alias(_) => unreachable!("only driven nets are visited"),
                };
                let mut fi = [0 as NodeId; 3];
                for k in 0..op.arity() {
                    let f = id[self.resolve(fanin[k]) as usize];
                    // Undriven or looping fan-in: an error is recorded; keep the IR well formed.
                    fi[k] = if f >= ON_STACK { 0 } else { f };
                }
                nodes.push(Node { op, fanin: fi, cell: cell.to_string(), name: self.net_name(n) });
            }
        }
        let mut outputs = Vec::new();
        for (name, s) in ports(DeclKind::Output) {
            let driven = s.bits.iter().filter(|&&n| id[self.resolve(n) as usize] < ON_STACK).count();
            if driven == 0 && !self.item_failed {
                self.errors.push(NetlistError::OutputNeverAssigned { span: self.span(s.loc), port: name.to_string() });
            } else if driven < s.bits.len() && !self.item_failed {
                for &n in &s.bits {
                    if id[self.resolve(n) as usize] >= ON_STACK {
                        self.errors.push(NetlistError::UndrivenNet { span: self.span(s.loc), net: self.net_name(n) });
                    }
                }
            }
            let bits = s
                .bits
                .iter()
                .map(|&n| id[self.resolve(n) as usize])
                .map(|x| if x >= ON_STACK { 0 } else { x })
                .collect();
            outputs.push(Port { name: name.to_string(), bits });
        }
        let mut warnings = Vec::new();
        for (name, s) in ports(DeclKind::Input) {
            let unused: Vec<String> = s
                .bits
                .iter()
                .filter(|&&n| self.nets[n as usize].use_loc.is_none())
                .map(|&n| self.net_name(n))
                .collect();
            if unused.len() == s.bits.len() {
                warnings.push(Warning { span: self.span(s.loc), message: format!("input '{name}' is never used") });
            } else if !unused.is_empty() {
                warnings.push(Warning {
                    span: self.span(s.loc),
                    message: format!("input bits never used: {}", unused.join(", ")),
                });
            }
        }
        let netlist = Netlist { name: top.name.name.to_string(), nodes, inputs, outputs };
        (netlist, warnings)
    }
}
