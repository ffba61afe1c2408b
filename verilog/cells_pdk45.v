// Zero-delay functional models of the 15 PDK45 cell types used by the EvoApprox `_pdk45.v`
// netlists, written for axdnn from the cell table in the EvoApprox README (inputs -> outputs and
// boolean function only; no timing, no vendor data). Used to simulate `_pdk45.v` files with
// Icarus Verilog / Verilator when cross-checking the axdnn simulator.
`timescale 1ns/1ps
module AND2X1 (input A, input B, output Y);   assign Y = A & B;        endmodule
module OR2X1 (input A, input B, output Y);    assign Y = A | B;        endmodule
module NAND2X1 (input A, input B, output Y);  assign Y = ~(A & B);     endmodule
module NOR2X1 (input A, input B, output Y);   assign Y = ~(A | B);     endmodule
module XOR2X1 (input A, input B, output Y);   assign Y = A ^ B;        endmodule
module XNOR2X1 (input A, input B, output Y);  assign Y = ~(A ^ B);     endmodule
module NAND3X1 (input A, input B, input C, output Y); assign Y = ~(A & B & C);   endmodule
module NOR3X1 (input A, input B, input C, output Y);  assign Y = ~(A | B | C);   endmodule
module AOI21X1 (input A, input B, input C, output Y); assign Y = ~((A & B) | C); endmodule
module OAI21X1 (input A, input B, input C, output Y); assign Y = ~((A | B) & C); endmodule
module INVX1 (input A, output Y);             assign Y = ~A;           endmodule
module BUFX2 (input A, output Y);             assign Y = A;            endmodule
// Not inverting: Y = S ? B : A.
module MUX2X1 (input A, input B, input S, output Y); assign Y = S ? B : A; endmodule
module HAX1 (input A, input B, output YS, output YC);
  assign YS = A ^ B;
  assign YC = A & B;
endmodule
module FAX1 (input A, input B, input C, output YS, output YC);
  assign YS = A ^ B ^ C;
  assign YC = (A & B) | (A & C) | (B & C);
endmodule
