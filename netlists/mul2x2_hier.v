// Exact 2x2 unsigned multiplier built from a half-adder submodule (written for axdnn's tests).
`timescale 1ns/100ps
module half_adder(a, b, s, c);
  input a, b;
  output s, c;
  assign s = a ^ b;
  assign c = a & b;
endmodule

module mul2x2_hier ( input [1:0] A, input [1:0] B, output [3:0] O );
  wire [3:0] pp;
  wire carry;
  localparam HI = 1;
  localparam LO = HI - 1;
  assign pp = {A[HI] & B[HI], A[LO] & B[HI], A[HI] & B[LO], A[LO] & B[LO]};
  half_adder ha0 (.a(pp[1]), .b(pp[2]), .s(O[1]), .c(carry));
  half_adder ha1 (.a(pp[3]), .b(carry), .s(O[2]), .c(O[3]));
  assign O[0] = pp[0];
endmodule
