// Error fixture: HAX1 has no port Y.
module err_unknown_port(A, B, O);
  input [1:0] A;
  input [1:0] B;
  output [1:0] O;
  HAX1 n0(.A(A[0]), .B(B[0]), .Y(O[0]), .YC(O[1]));
endmodule
