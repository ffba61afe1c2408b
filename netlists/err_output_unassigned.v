// Error fixture: output P is declared but nothing drives it.
module err_output_unassigned(A, B, O, P);
  input [1:0] A;
  input [1:0] B;
  output [1:0] O;
  output P;
  assign O = A & B;
endmodule
